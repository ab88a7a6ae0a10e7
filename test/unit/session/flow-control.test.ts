/**
 * FlowControl, the window value type of the session (src/session/flow-control.ts), on its own:
 * debit/credit/shift on the send side, consume/release/takeUpdate on the receive side, and
 * overflow and underflow as ERR_FLOW_CONTROL with the window's scope, leaving it unchanged.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCode, isKubemuxError } from '../../../src/errors.js';
import { FlowControl, MAX_WINDOW_BYTES } from '../../../src/session/flow-control.js';

const STREAM = { scope: 'stream', name: 'stream 3', streamId: 3 } as const;
const SESSION = { scope: 'session', name: 'the session' } as const;

function flowError(scope: string, pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(isKubemuxError(error, ErrorCode.FLOW_CONTROL), `got ${String(error)}`);
    assert.equal(error.scope, scope);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('send side', () => {
  test('debit takes bytes, credit gives them back', () => {
    const window = new FlowControl(1000, STREAM);
    window.debit(400);
    window.debit(600);
    assert.equal(window.window, 0);
    window.credit(250);
    assert.equal(window.window, 250);
  });

  test('a debit past the window throws (underflow) and leaves the window as it was', () => {
    const window = new FlowControl(100, STREAM);
    assert.throws(() => window.debit(101), flowError('stream', /stream 3/));
    assert.equal(window.window, 100);
  });

  test('a credit past 2^31-1 throws (overflow) with the scope and stream id, and leaves the window as it was', () => {
    const window = new FlowControl(MAX_WINDOW_BYTES - 10, STREAM);
    window.credit(10);
    assert.equal(window.window, MAX_WINDOW_BYTES);
    assert.throws(
      () => window.credit(1),
      (error: unknown) => flowError('stream', /2\^31-1/)(error) && (error as { streamId?: number }).streamId === 3,
    );
    assert.equal(window.window, MAX_WINDOW_BYTES);
    const session = new FlowControl(MAX_WINDOW_BYTES, SESSION);
    assert.throws(() => session.credit(1), flowError('session', /the session/));
  });

  test('shift moves the window by a new initial size, below zero too', () => {
    const window = new FlowControl(1000, STREAM);
    window.debit(900);
    window.shift(-500);
    assert.equal(window.window, -400);
    assert.throws(() => window.debit(1), flowError('stream', /send window/));
    window.shift(1400);
    assert.equal(window.window, 1000);
  });
});

describe('receive side', () => {
  test('consume past the window throws (underflow: the peer sent too much)', () => {
    const window = new FlowControl(1000, STREAM);
    window.consume(1000);
    assert.equal(window.window, 0);
    assert.throws(() => window.consume(1), flowError('stream', /receive window of stream 3/));
    assert.equal(window.window, 0);
  });

  test('released bytes come back as one update once they reach the threshold', () => {
    const window = new FlowControl(1000, STREAM);
    window.consume(800);
    window.release(300);
    assert.equal(window.takeUpdate(500), 0, 'under the threshold: nothing to send yet');
    assert.equal(window.owedBytes, 300);
    window.release(200);
    assert.equal(window.takeUpdate(500), 500);
    assert.equal(window.owedBytes, 0);
    assert.equal(window.window, 700);
    assert.equal(window.takeUpdate(0), 0, 'nothing owed: no update, whatever the threshold');
  });

  test('release ignores nothing-or-less, and an Infinity window is never exceeded', () => {
    const window = new FlowControl(Infinity, SESSION);
    window.release(0);
    window.release(-5);
    assert.equal(window.owedBytes, 0);
    window.consume(2 ** 40);
    assert.equal(window.window, Infinity);
    window.release(10);
    assert.equal(window.takeUpdate(10), 10);
  });
});
