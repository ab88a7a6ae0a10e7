/**
 * The lifecycle of one SPDY stream as one private state with checked transitions (after
 * hyperium/h2's src/proto/streams/state.rs). The session drives it; a transition the table below
 * does not allow throws ERR_INVALID_STATE (scope 'stream'): a bug here, never the peer's doing
 * (the session checks the peer's frames against the state before it moves it).
 *
 *                    local FIN                         remote FIN
 *        open ─────────────────▶ half-closed-local ──────────────────▶ closed
 *         │ │   remote FIN                          local FIN            ▲
 *         │ └───────────────▶ half-closed-remote ────────────────────────┘
 *         │             │                   │
 *         └─────────────┴───────────────────┴── RST sent or received, session end ──▶ reset
 *                  (from open, half-closed-local and half-closed-remote)
 *
 * `closed` (both directions ended cleanly) and `reset` are final. Whether the SYN_REPLY has been
 * sent or received is orthogonal to the above (either side may FIN before it), so it is a flag
 * of its own, set once.
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/** The states of the diagram in the file comment. */
export type StreamStateName = 'open' | 'half-closed-local' | 'half-closed-remote' | 'closed' | 'reset';

/** The transitions of the diagram. */
export type StreamTransition = 'local-fin' | 'remote-fin' | 'reset';

/** The transition table: from each state, where each transition leads (absent: not allowed). */
const TRANSITIONS: Readonly<Record<StreamStateName, Partial<Record<StreamTransition, StreamStateName>>>> = {
  open: { 'local-fin': 'half-closed-local', 'remote-fin': 'half-closed-remote', reset: 'reset' },
  'half-closed-local': { 'remote-fin': 'closed', reset: 'reset' },
  'half-closed-remote': { 'local-fin': 'closed', reset: 'reset' },
  closed: {},
  reset: {},
};

/** Where `transition` leads from `from`, or undefined when the table does not allow it. */
export function nextStreamState(from: StreamStateName, transition: StreamTransition): StreamStateName | undefined {
  return TRANSITIONS[from][transition];
}

/** One stream's lifecycle state (see the file comment). */
export class StreamState {
  readonly #streamId: number;
  #name: StreamStateName = 'open';
  #replied = false;

  constructor(streamId: number) {
    this.#streamId = streamId;
  }

  /** The current state. */
  get name(): StreamStateName {
    return this.#name;
  }

  /** We sent FIN (the stream is half-closed-local or closed). */
  get localFinished(): boolean {
    return this.#name === 'half-closed-local' || this.#name === 'closed';
  }

  /** The peer sent FIN (the stream is half-closed-remote or closed). */
  get remoteFinished(): boolean {
    return this.#name === 'half-closed-remote' || this.#name === 'closed';
  }

  /** A RST_STREAM was sent or received (or the session ended under the stream). */
  get isReset(): boolean {
    return this.#name === 'reset';
  }

  /** Both directions ended cleanly, or the stream was reset: nothing more moves on it. */
  get isFinal(): boolean {
    return this.#name === 'closed' || this.#name === 'reset';
  }

  /** The SYN_REPLY was sent (a stream the peer opened) or received (one we opened). */
  get replied(): boolean {
    return this.#replied;
  }

  /** We send FIN. */
  finishLocal(): void {
    this.#move('local-fin');
  }

  /** The peer sent FIN. */
  finishRemote(): void {
    this.#move('remote-fin');
  }

  /** A RST_STREAM was sent or received, or the session ended. */
  reset(): void {
    this.#move('reset');
  }

  /** The SYN_REPLY went out or came in; only once. */
  markReplied(): void {
    if (this.#replied) throw this.#illegal('reply', 'already replied');
    this.#replied = true;
  }

  #move(transition: StreamTransition): void {
    const next = nextStreamState(this.#name, transition);
    if (next === undefined) throw this.#illegal(transition, this.#name);
    this.#name = next;
  }

  #illegal(transition: string, from: string): KubemuxError {
    return new KubemuxError(ErrorCode.INVALID_STATE, 'stream', `stream ${this.#streamId}: ${transition} is not allowed when ${from}`, { streamId: this.#streamId });
  }
}
