/**
 * The stream state machine (src/session/stream-state.ts): every (state, transition) pair of the
 * table, the derived views the session reads, and illegal transitions as ERR_INVALID_STATE.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { StreamState, nextStreamState, type StreamStateName, type StreamTransition } from '../../../src/session/stream-state.js';

const EXPECTED: Record<StreamStateName, Record<StreamTransition, StreamStateName | undefined>> = {
  open: { 'local-fin': 'half-closed-local', 'remote-fin': 'half-closed-remote', reset: 'reset' },
  'half-closed-local': { 'local-fin': undefined, 'remote-fin': 'closed', reset: 'reset' },
  'half-closed-remote': { 'local-fin': 'closed', 'remote-fin': undefined, reset: 'reset' },
  closed: { 'local-fin': undefined, 'remote-fin': undefined, reset: undefined },
  reset: { 'local-fin': undefined, 'remote-fin': undefined, reset: undefined },
};

/** Drives a fresh state to `target` through legal transitions. */
function stateIn(target: StreamStateName): StreamState {
  const state = new StreamState(5);
  const path: Record<StreamStateName, Array<(s: StreamState) => void>> = {
    open: [],
    'half-closed-local': [(s) => s.finishLocal()],
    'half-closed-remote': [(s) => s.finishRemote()],
    closed: [(s) => s.finishLocal(), (s) => s.finishRemote()],
    reset: [(s) => s.reset()],
  };
  for (const step of path[target]) step(state);
  assert.equal(state.name, target);
  return state;
}

const APPLY: Record<StreamTransition, (s: StreamState) => void> = {
  'local-fin': (s) => s.finishLocal(),
  'remote-fin': (s) => s.finishRemote(),
  reset: (s) => s.reset(),
};

test('the transition table: every state and transition leads where the diagram says, or throws ERR_INVALID_STATE', () => {
  for (const [from, row] of Object.entries(EXPECTED) as Array<[StreamStateName, Record<StreamTransition, StreamStateName | undefined>]>) {
    for (const [transition, to] of Object.entries(row) as Array<[StreamTransition, StreamStateName | undefined]>) {
      assert.equal(nextStreamState(from, transition), to, `${from} --${transition}-->`);
      const state = stateIn(from);
      if (to === undefined) {
        assert.throws(
          () => APPLY[transition](state),
          (error: unknown) => isKubemuxError(error, ErrorCode.INVALID_STATE) && error.scope === 'stream' && error.streamId === 5,
          `${from} --${transition}--> must throw`,
        );
        assert.equal(state.name, from, 'an illegal transition leaves the state as it was');
      } else {
        APPLY[transition](state);
        assert.equal(state.name, to);
      }
    }
  }
});

test('the views the session reads follow the state', () => {
  const views = (s: StreamState): string => `${s.localFinished}/${s.remoteFinished}/${s.isReset}/${s.isFinal}`;
  assert.equal(views(stateIn('open')), 'false/false/false/false');
  assert.equal(views(stateIn('half-closed-local')), 'true/false/false/false');
  assert.equal(views(stateIn('half-closed-remote')), 'false/true/false/false');
  assert.equal(views(stateIn('closed')), 'true/true/false/true');
  assert.equal(views(stateIn('reset')), 'false/false/true/true');
});

test('the reply flag is orthogonal and set once', () => {
  const state = stateIn('half-closed-remote');
  assert.equal(state.replied, false);
  state.markReplied();
  assert.equal(state.replied, true);
  assert.equal(state.name, 'half-closed-remote');
  assert.throws(() => state.markReplied(), (error: unknown) => isKubemuxError(error, ErrorCode.INVALID_STATE));
});
