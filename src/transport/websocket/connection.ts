/**
 * WebSocketConnection: one RFC 6455 connection over a socket whose opening handshake is done,
 * built from the frame codec of `ws` (Receiver and Sender) wired the way ws's own WebSocket wires
 * them (lib/websocket.js, `setSocket`), minus the handshake, which ws cannot do for Kubernetes'
 * tunnelling subprotocol (see handshake.ts).
 *
 * States:
 *
 *            close() / close frame received / malformed frame
 *     open ───────────────────────────────────────────────────▶ closing
 *       │      (our close frame is queued; a deadline of           │
 *       │       closeTimeoutMs starts)                             │ both close frames exchanged:
 *       │                                                          │ end the socket; deadline:
 *       │ socket ends, fails or is destroyed                       │ destroy it
 *       ▼                                                          ▼
 *     closed ◀──────────────────── socket 'close' ─────────────────┘
 *
 * Inside, one private state (#s) of four parts, each moved only through its checked transitions
 * (TRANSITIONS below; anything else throws ERR_INVALID_STATE), because the closing handshake has
 * two halves that finish in either order:
 *
 *     phase     open ──▶ closing ──▶ closed          (open ──▶ closed too: the socket went first)
 *     reader    idle ──start/resume()──▶ reading ──▶ close-received   (the peer's close frame)
 *                 └───────────────────────┴──────▶ failed           (a malformed frame)
 *     ownClose  none ──▶ queued ──▶ written          (our close frame: handed to ws, taken by the socket)
 *     teardown  none ──▶ timed-out ──▶ destroyed     (we destroyed the socket: closing deadline, destroy())
 *                 └──────────────────────▲
 *
 * Socket bytes go to the Receiver while the reader is idle or reading and the phase is not closed.
 * The caller's pause() is a flag beside it (orthogonal: it may be set in any state).
 *
 * 'closing' is emitted when the state becomes closing: at once, with the error, when the peer
 * sent a malformed frame (a layer above must not wait for the closing handshake to learn why).
 * 'close' is emitted exactly once, on the socket's 'close', with the peer's status code (1006
 * when no close frame came) and an error when the connection did not end by a closing handshake
 * (malformed frame, socket error, end without close frame, deadline passed).
 *
 * Memory the peer can make a connection hold is bounded (spec/memory-budget.md): one message
 * (maxPayloadBytes) in at most maxFragments frames, at most maxBufferedChunks socket reads of an
 * incomplete frame, and one pending pong: while the socket does not drain, pings are answered
 * with one pong for the latest (RFC 6455 section 5.5.3 allows it) instead of one pong each.
 *
 * Size (about 550 lines): one concern, one RFC 6455 connection (reading, writing, the closing
 * handshake and its deadline, pings), whose parts all read and write the one state above; framing
 * (ws-codec.ts), the handshake, masking and close codes are in files of their own.
 */
import { EventEmitter } from 'eventemitter3';
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { ErrorCode, KubemuxError } from '../../errors.js';
import { noop } from '../../util/noop.js';
import { integerIn, MAX_TIMER_MS, usage } from '../../util/validate.js';
import { RECEIVER_ERROR_STATUS, Receiver, Sender, isSendableCloseCode, type FrameReceiver, type FrameSender } from './ws-codec.js';
import { clientFrame, dataFrame } from './client-frame.js';
import { UnmaskingReceiver } from './server-unmask.js';

/** Which end of the connection this is. Clients mask their frames; servers must not. */
export type WebSocketRole = 'client' | 'server';

/**
 * Masking keys for client frames.
 * - `'random'` (default): a fresh unpredictable key per frame, as RFC 6455 section 5.3 requires.
 * - `'zero'`: the all-zero key. Frames are still marked masked, so every server accepts them, and
 *   ws then skips the XOR and the payload copy. The price is the protection masking exists for
 *   (RFC 6455 section 10.3): bytes chosen by a third party — and forwarded port data is exactly
 *   that — appear on the wire unchanged, where a proxy that does not understand WebSocket could
 *   take them for HTTP (cache poisoning). Use it only when the hop is TLS end to end.
 */
export type ClientMasking = 'random' | 'zero';

/** Options of {@link WebSocketConnection}. */
export interface WebSocketConnectionOptions {
  readonly role: WebSocketRole;
  /** Bytes that arrived after the handshake head (the `head` of Node's 'upgrade' event); parsed first. */
  readonly head?: Buffer;
  /** Largest message accepted, bytes; a larger one closes the connection with 1009. Default 16 MiB. */
  readonly maxPayloadBytes?: number;
  /** How long the closing handshake may take before the socket is destroyed, ms. Default 5,000. */
  readonly closeTimeoutMs?: number;
  /**
   * Most frames one message may arrive in; more closes the connection with 1008 and
   * ERR_RESOURCE_LIMIT. Default 4,096 (a fragment costs about 130 bytes of heap beyond its payload:
   * 1-byte fragments of a 16 MiB message would otherwise take 2 GiB).
   */
  readonly maxFragments?: number;
  /**
   * Most socket reads the frame parser may hold while a frame is incomplete (a peer trickling a
   * large frame a few bytes per TCP segment); more closes with 1008 and ERR_RESOURCE_LIMIT.
   * Default 16,384 (a 16 MiB frame in 1 KiB reads).
   */
  readonly maxBufferedChunks?: number;
  /** See {@link ClientMasking}. Default `'random'`. Ignored for servers. */
  readonly clientMasking?: ClientMasking;
}

/** Defaults of {@link WebSocketConnectionOptions}. */
export const WEBSOCKET_CONNECTION_DEFAULTS = Object.freeze({
  maxPayloadBytes: 16 * 1024 * 1024,
  closeTimeoutMs: 5_000,
  maxFragments: 4096,
  maxBufferedChunks: 16_384,
  clientMasking: 'random' as ClientMasking,
});

/** ws's Receiver reads maxPayload as a 32-bit integer. */
const MAX_PAYLOAD_LIMIT = 2 ** 31 - 1;
/** Control frames (ping, pong, close) carry at most 125 bytes; a close reason 123 after the code. */
const MAX_CONTROL_PAYLOAD = 125;
const MAX_CLOSE_REASON_BYTES = 123;

/** Events of {@link WebSocketConnection}. */
export interface WebSocketConnectionEvents {
  /** A complete data message. `data` may be a view into a socket buffer. */
  message: (data: Buffer, isBinary: boolean) => void;
  /** A ping arrived (a pong has been sent back already while open). */
  ping: (data: Buffer) => void;
  /** A pong arrived. */
  pong: (data: Buffer) => void;
  /**
   * The closing handshake started: by {@link WebSocketConnection.close} (`byPeer` false), by the
   * peer's close frame (`code` and `reason` are its), or by a malformed frame from the peer
   * (`error` says what was wrong; `code` is the status sent back). 'close' follows once the
   * socket has closed, which a peer can delay by up to `closeTimeoutMs`.
   */
  closing: (code: number, reason: string, byPeer: boolean, error?: KubemuxError) => void;
  /** The socket's write buffer fell below its mark after {@link WebSocketConnection.send} returned false. */
  drain: () => void;
  /**
   * The connection is closed. `code` is the peer's close status (1005 when its close frame had
   * none, 1006 when there was no close frame); `reason` its text. `error` is set when the
   * connection did not end by a closing handshake.
   */
  close: (code: number, reason: string, error?: KubemuxError) => void;
}

/** 'open' → 'closing' → 'closed' (see the diagram in the file comment). */
export type WebSocketState = 'open' | 'closing' | 'closed';

/** Options of {@link WebSocketConnection.send}. */
export interface SendOptions {
  /** Binary (true) or text (false) message. Default: binary unless `data` is a string. */
  readonly binary?: boolean;
}

/** A send/ping callback: called once the socket has taken the frame, or with why it could not. */
export type SendCallback = (error?: KubemuxError) => void;

function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** The parts of a connection's state and the moves each allows (see the file comment). */
const TRANSITIONS = {
  phase: { open: ['closing', 'closed'], closing: ['closed'], closed: [] },
  reader: { idle: ['reading', 'close-received', 'failed'], reading: ['close-received', 'failed'], 'close-received': [], failed: [] },
  ownClose: { none: ['queued'], queued: ['written'], written: [] },
  teardown: { none: ['timed-out', 'destroyed'], 'timed-out': ['destroyed'], destroyed: [] },
} as const satisfies Record<string, Record<string, readonly string[]>>;

type Transitions = typeof TRANSITIONS;
/** The connection's state: one value per part of {@link TRANSITIONS}. */
type ConnectionState = { -readonly [P in keyof Transitions]: keyof Transitions[P] };

function transportError(message: string, cause?: unknown, closeCode = 1006): KubemuxError {
  return new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', message, cause === undefined ? { closeCode } : { closeCode, cause });
}

/** An RFC 6455 connection over a socket that has completed the opening handshake. */
export class WebSocketConnection extends EventEmitter<WebSocketConnectionEvents> {
  /** 'client' or 'server'. */
  readonly role: WebSocketRole;
  readonly #socket: Duplex;
  readonly #receiver: FrameReceiver;
  readonly #sender: FrameSender;
  readonly #mask: boolean;
  readonly #generateMask: ((mask: Buffer) => void) | undefined;
  readonly #fastMasking: boolean;
  readonly #closeTimeoutMs: number;

  /** The one state (see the file comment); written only by #move. */
  readonly #s: ConnectionState = { phase: 'open', reader: 'idle', ownClose: 'none', teardown: 'none' };
  /** The caller's pause() (orthogonal to the state). */
  #paused = false;
  #closeCode = 1006;
  #closeReason = '';
  #error: KubemuxError | undefined;
  #closeTimer: NodeJS.Timeout | undefined;
  /** The latest ping's data while the socket does not drain: answered once it does. */
  #pendingPong: Buffer | undefined;

  readonly #onSocketData = (chunk: Buffer): void => {
    if (!this.#receiver.write(chunk)) this.#socket.pause();
  };
  readonly #onSocketEnd = (): void => {
    if (this.#s.reader !== 'close-received') this.#recordError(transportError('the peer ended the connection without a WebSocket close frame'));
    // Our side of TCP too: a WebSocket has no half-close.
    this.#socket.end();
  };
  readonly #onSocketError = (error: Error): void => {
    // After the peer's close frame, a reset is how many peers finish (gorilla's client closes its
    // socket right after writing close, and our echo then meets an RST): not a failure.
    if (this.#s.reader !== 'close-received') this.#recordError(transportError(`WebSocket transport failed: ${error.message}`, error));
    this.#socket.destroy();
  };
  readonly #onSocketClose = (): void => this.#finish();
  readonly #onSocketDrain = (): void => {
    const pong = this.#pendingPong;
    this.#pendingPong = undefined;
    if (pong !== undefined && this.#s.phase === 'open') this.#sender.pong(pong, this.#mask);
    this.emit('drain');
  };

  /**
   * Takes over `socket` (the handshake must be complete). `options.head` holds bytes that came
   * with the handshake; they are parsed before anything else the socket delivers. Reading starts
   * on the next turn of the event loop (setImmediate) or at the first resume(), whichever comes
   * first, so listeners attached right after construction miss nothing. Throws
   * ERR_INVALID_ARGUMENT (usage) for a bad option.
   */
  constructor(socket: Duplex, options: WebSocketConnectionOptions) {
    super();
    const role = options.role;
    if (role !== 'client' && role !== 'server') usage(`role must be 'client' or 'server', got ${String(role)}`);
    const d = WEBSOCKET_CONNECTION_DEFAULTS;
    const maxPayloadBytes = integerIn('maxPayloadBytes', options.maxPayloadBytes ?? d.maxPayloadBytes, 1, MAX_PAYLOAD_LIMIT);
    const maxFragments = integerIn('maxFragments', options.maxFragments ?? d.maxFragments, 1, MAX_PAYLOAD_LIMIT);
    const maxBufferedChunks = integerIn('maxBufferedChunks', options.maxBufferedChunks ?? d.maxBufferedChunks, 1, MAX_PAYLOAD_LIMIT);
    this.#closeTimeoutMs = integerIn('closeTimeoutMs', options.closeTimeoutMs ?? d.closeTimeoutMs, 1, MAX_TIMER_MS);
    const masking = options.clientMasking ?? d.clientMasking;
    if (masking !== 'random' && masking !== 'zero') usage(`clientMasking must be 'random' or 'zero', got ${String(masking)}`);

    this.role = role;
    this.#socket = socket;
    this.#mask = role === 'client';
    this.#generateMask = this.#mask && masking === 'zero' ? zeroMask : undefined;
    // Random masks are applied by client-frame.ts (word at a time); ws handles zero masks by
    // skipping the XOR, and every control frame.
    this.#fastMasking = this.#mask && masking === 'random';
    this.#receiver = new (role === 'server' ? UnmaskingReceiver : Receiver)({
      // Messages of one socket chunk are delivered in the same tick; the byte stream pauses the
      // socket when its reader is full, which bounds the excess to one chunk.
      allowSynchronousEvents: true,
      binaryType: 'nodebuffer',
      extensions: {},
      isServer: role === 'server',
      maxPayload: maxPayloadBytes,
      maxFragments,
      maxBufferedChunks,
      skipUTF8Validation: false,
    });
    this.#sender = new Sender(socket, {}, this.#generateMask);

    this.#receiver.on('message', (data, isBinary) => {
      if (this.#s.phase !== 'closed') this.emit('message', data, isBinary);
    });
    this.#receiver.on('ping', (data) => this.#onPing(data));
    this.#receiver.on('pong', (data) => {
      if (this.#s.phase !== 'closed') this.emit('pong', data);
    });
    this.#receiver.on('conclude', (code, reason) => this.#onCloseFrame(code, reason));
    this.#receiver.on('error', (error) => this.#onMalformedFrame(error));
    this.#receiver.on('drain', () => {
      if (this.#feeding && !this.#paused) this.#socket.resume();
    });

    // A net.Socket from an http server may carry the server's idle timeout; the WebSocket (or the
    // session above it) decides liveness now. Nagle would hold back small SPDY frames.
    const netSocket = socket as Duplex & { setTimeout?: (ms: number) => void; setNoDelay?: (noDelay: boolean) => void };
    if (typeof netSocket.setTimeout === 'function') netSocket.setTimeout(0);
    if (typeof netSocket.setNoDelay === 'function') netSocket.setNoDelay(true);

    if (options.head !== undefined && options.head.length > 0) socket.unshift(options.head);
    // Nothing is parsed before whoever created us has attached listeners, even across an `await`
    // of the function that created us: bytes that came with the handshake would otherwise be
    // emitted from a process.nextTick, ahead of the awaiting code. Paused explicitly, the socket
    // does not start flowing when the 'data' listener is added.
    socket.pause();
    socket.on('data', this.#onSocketData);
    socket.on('end', this.#onSocketEnd);
    socket.on('error', this.#onSocketError);
    socket.on('close', this.#onSocketClose);
    socket.on('drain', this.#onSocketDrain);
    if (socket.destroyed) process.nextTick(() => this.#finish());
    else setImmediate(() => this.#start());
  }

  /** See {@link WebSocketState}. */
  get state(): WebSocketState {
    return this.#s.phase;
  }

  /** Why the connection failed, once it has (a malformed frame, a socket error, ...); undefined otherwise. */
  get error(): KubemuxError | undefined {
    return this.#error;
  }

  /** Bytes written to the socket and not yet flushed to the OS. */
  get bufferedBytes(): number {
    return this.#socket.writableLength;
  }

  /** True while {@link pause} is in effect. */
  get isPaused(): boolean {
    return this.#paused;
  }

  /**
   * Sends one message. `data` may be a list of buffers, sent as one message (one frame: the
   * Kubernetes streaming server reads one frame as one message and does not reassemble
   * fragments). Returns false when the socket's write buffer is over its mark (wait for 'drain')
   * or the connection is not open (the callback then gets ERR_TRANSPORT_CLOSED).
   */
  send(data: Uint8Array | string | readonly Uint8Array[], options: SendOptions = {}, callback?: SendCallback): boolean {
    if (this.#s.phase !== 'open') {
      if (callback !== undefined) process.nextTick(callback, this.#notOpenError());
      return false;
    }
    const binary = options.binary ?? typeof data !== 'string';
    const done = callback === undefined ? undefined : this.#wrapCallback(callback);
    if (typeof data === 'string' || data instanceof Uint8Array) {
      const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      if (this.#fastMasking) this.#writeFrame(clientFrame(payload, binary ? 2 : 1), done);
      // ws copies a caller's buffer to mask it (merging header and payload); the caller's bytes
      // are never changed.
      else this.#sender.send(payload, { binary, compress: false, fin: true, mask: this.#mask }, done);
    } else if (this.#fastMasking || !this.#mask) {
      // Several parts, one message: a client masks them into one copy, a server writes them as
      // they are behind one header (no copy).
      this.#writeFrame(dataFrame(data as readonly Uint8Array[], binary ? 2 : 1, this.#mask), done);
    } else {
      // Zero masks: the joined buffer is ours, so ws may "mask" it in place.
      const joined = Buffer.concat(data as readonly Uint8Array[]);
      this.#writeFrame(Sender.frame(joined, { fin: true, opcode: binary ? 2 : 1, mask: this.#mask, readOnly: false, rsv1: false, generateMask: this.#generateMask }), done);
    }
    return !this.#socket.writableNeedDrain;
  }

  /** Sends a ping (at most 125 bytes of data); the peer's pong arrives as 'pong'. Returns as {@link send}. */
  ping(data: Uint8Array = Buffer.alloc(0), callback?: SendCallback): boolean {
    if (data.length > MAX_CONTROL_PAYLOAD) usage(`ping data is ${data.length} bytes; at most ${MAX_CONTROL_PAYLOAD} are allowed`);
    if (this.#s.phase !== 'open') {
      if (callback !== undefined) process.nextTick(callback, this.#notOpenError());
      return false;
    }
    const payload = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.#sender.ping(payload, this.#mask, callback === undefined ? undefined : this.#wrapCallback(callback));
    return !this.#socket.writableNeedDrain;
  }

  /** Stops reading the socket (backpressure). Messages already parsed from the current chunk are still delivered. */
  pause(): void {
    this.#paused = true;
    if (this.#feeding) this.#socket.pause();
  }

  /** Undoes {@link pause}. Also starts reading at once if the connection has not started yet. */
  resume(): void {
    this.#paused = false;
    if (this.#s.reader === 'idle') this.#move('reader', 'reading');
    if (this.#feeding && !this.#receiver.writableNeedDrain) this.#socket.resume();
  }

  /** Holds back socket writes until {@link uncork}, so that several messages leave in one write. */
  cork(): void {
    this.#socket.cork();
  }

  /** Releases {@link cork}. */
  uncork(): void {
    this.#socket.uncork();
  }

  /**
   * Starts the closing handshake: sends a close frame with `code` and `reason` (at most 123
   * bytes of UTF-8), keeps delivering messages until the peer's close frame, then ends the
   * socket. If the handshake has not finished after `closeTimeoutMs`, the socket is destroyed.
   * Does nothing when already closing or closed. Throws ERR_INVALID_ARGUMENT (usage) for a code
   * an endpoint may not send (1004-1006, 1015, outside 1000-4999, ...) or a long reason.
   */
  close(code = 1000, reason = ''): void {
    if (!isSendableCloseCode(code)) usage(`close code ${String(code)} may not be sent (allowed: 1000-1003, 1007-1014, 3000-4999)`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON_BYTES) usage(`close reason is ${Buffer.byteLength(reason)} bytes; at most ${MAX_CLOSE_REASON_BYTES} are allowed`);
    if (this.#s.phase !== 'open') return;
    this.#startClosing(code, reason, false);
    this.#sendCloseFrame(code, reason);
  }

  /** Destroys the socket at once, without a closing handshake. 'close' follows with 1006 and no error. */
  destroy(): void {
    if (this.#s.phase === 'closed') return;
    if (this.#s.teardown !== 'destroyed') this.#move('teardown', 'destroyed');
    this.#socket.destroy();
  }

  // ---------------------------------------------------------------- internals

  /** Starts reading the socket (one turn of the event loop after construction, or at the first resume()). */
  #start(): void {
    if (this.#s.reader !== 'idle' || this.#s.phase === 'closed') return;
    this.#move('reader', 'reading');
    if (!this.#paused) this.#socket.resume();
  }

  /** Socket bytes go to the Receiver (see the file comment). */
  get #feeding(): boolean {
    const reader = this.#s.reader;
    return (reader === 'idle' || reader === 'reading') && this.#s.phase !== 'closed';
  }

  /** Moves one part of the state; a move the table does not allow is a bug here, and throws. */
  #move<P extends keyof Transitions>(part: P, to: keyof Transitions[P]): void {
    const from = this.#s[part];
    const allowed = TRANSITIONS[part][from as keyof Transitions[P]] as readonly unknown[];
    if (!allowed.includes(to)) {
      throw new KubemuxError(ErrorCode.INVALID_STATE, 'transport', `WebSocket ${String(part)}: ${String(from)} -> ${String(to)} is not allowed`);
    }
    (this.#s as Record<P, unknown>)[part] = to;
  }

  #wrapCallback(callback: SendCallback): (error?: Error | null) => void {
    return (error) => {
      if (error === undefined || error === null) callback();
      else callback(error instanceof KubemuxError ? error : transportError(`WebSocket write failed: ${error.message}`, error));
    };
  }

  #notOpenError(): KubemuxError {
    return transportError(`the WebSocket is ${this.#s.phase}`, this.#error, this.#s.reader === 'close-received' ? this.#closeCode : 1006);
  }

  /** Writes a frame from Sender.frame() as ws's Sender.sendFrame does: header and payload in one corked write. */
  #writeFrame(frame: Buffer[], callback: ((error?: Error | null) => void) | undefined): void {
    const socket = this.#socket;
    socket.cork();
    for (let i = 0; i < frame.length; i++) {
      if (i === frame.length - 1) socket.write(frame[i], callback);
      else socket.write(frame[i]);
    }
    socket.uncork();
  }

  #onPing(data: Buffer): void {
    if (this.#s.phase === 'closed') return;
    // RFC 6455 section 5.5.2: answer with the same data, unless we are already closing (5.5.1:
    // no data frames after close; ws answers pings only while open, too). While the socket does
    // not drain, only the latest ping is answered (section 5.5.3), once it drains: a peer that
    // floods pings and reads nothing cannot grow our write queue.
    if (this.#s.phase === 'open') {
      if (this.#socket.writableNeedDrain) this.#pendingPong = Buffer.from(data);
      else this.#sender.pong(data, this.#mask);
    }
    this.emit('ping', data);
  }

  #onCloseFrame(code: number, reason: Buffer): void {
    // The Receiver stops at a close frame and is fed nothing after a malformed one.
    if (!this.#feedingReader()) return;
    this.#move('reader', 'close-received');
    this.#closeCode = code;
    // The reason is a view into a socket buffer; the string copy lets that buffer go.
    this.#closeReason = reason.toString('utf8');
    this.#stopFeeding();
    if (this.#s.ownClose === 'none') {
      if (this.#s.phase === 'open') this.#startClosing(code, this.#closeReason, true);
      // Echo the status (RFC 6455 section 5.5.1); 1005 means the peer sent none, so neither do we.
      this.#sendCloseFrame(code === 1005 ? undefined : code, undefined);
    } else if (this.#s.ownClose === 'written') {
      this.#socket.end();
    }
  }

  /** The reader still takes frames (idle or reading), whatever the phase. */
  #feedingReader(): boolean {
    return this.#s.reader === 'idle' || this.#s.reader === 'reading';
  }

  #onMalformedFrame(error: Error & { code?: string }): void {
    if (!this.#feedingReader()) return;
    this.#move('reader', 'failed');
    const status = (error.code !== undefined ? RECEIVER_ERROR_STATUS[error.code] : undefined) ?? 1002;
    const code = status === 1009 ? ErrorCode.FRAME_TOO_LARGE : status === 1008 ? ErrorCode.RESOURCE_LIMIT : ErrorCode.PROTOCOL;
    const failure = new KubemuxError(code, 'transport', `invalid WebSocket data from the peer: ${error.message}`, { cause: error, closeCode: status });
    this.#recordError(failure);
    this.#stopFeeding();
    if (this.#s.phase === 'open') {
      this.#startClosing(status, '', true, failure);
      this.#sendCloseFrame(status, undefined);
    } else if (this.#s.ownClose === 'written') {
      this.#socket.end();
    }
  }

  /** The reader has just left 'reading' (or 'idle'): socket bytes no longer go to the Receiver. */
  #stopFeeding(): void {
    this.#socket.off('data', this.#onSocketData);
    // Let the socket flow (bytes are discarded) so that the peer's FIN can arrive.
    this.#socket.resume();
  }

  #startClosing(code: number, reason: string, byPeer: boolean, error?: KubemuxError): void {
    this.#move('phase', 'closing');
    this.#closeTimer = setTimeout(() => {
      if (this.#s.teardown === 'none') this.#move('teardown', 'timed-out');
      this.#socket.destroy();
    }, this.#closeTimeoutMs);
    this.#closeTimer.unref();
    this.emit('closing', code, reason, byPeer, error);
  }

  #sendCloseFrame(code: number | undefined, reason: string | undefined): void {
    this.#move('ownClose', 'queued');
    const socket = this.#socket;
    if (socket.destroyed || socket.writableEnded) return;
    this.#sender.close(code, reason, this.#mask, (error) => {
      if (error !== undefined && error !== null) return; // the socket's 'error' reports it
      this.#move('ownClose', 'written');
      // Both close frames are through (or the peer broke the protocol and we said why): end TCP.
      if (!this.#feedingReader()) socket.end();
    });
  }

  #recordError(error: KubemuxError): void {
    this.#error ??= error;
  }

  #finish(): void {
    if (this.#s.phase === 'closed') return;
    const socket = this.#socket;
    // A paused socket may still hold bytes, among them the peer's close frame: parse them
    // before giving up on a clean close (ws does the same in socketOnClose).
    if (this.#feeding && socket.readableLength > 0) {
      const rest = socket.read() as Buffer | null;
      if (rest !== null) this.#receiver.write(rest);
    }
    this.#move('phase', 'closed');
    this.#pendingPong = undefined;
    clearTimeout(this.#closeTimer);
    socket.off('data', this.#onSocketData);
    socket.off('end', this.#onSocketEnd);
    socket.off('close', this.#onSocketClose);
    socket.off('drain', this.#onSocketDrain);
    socket.off('error', this.#onSocketError);
    // A late ECONNRESET must not crash the process.
    socket.on('error', noop);
    let error = this.#error;
    const closeReceived = this.#s.reader === 'close-received';
    if (error === undefined && !closeReceived && this.#s.teardown !== 'destroyed') {
      error = this.#s.teardown === 'timed-out'
        ? transportError(`the peer did not complete the WebSocket closing handshake within ${this.#closeTimeoutMs} ms`)
        : transportError('the WebSocket connection closed without a close frame');
    }
    const code = closeReceived ? this.#closeCode : 1006;
    this.emit('close', code, closeReceived ? this.#closeReason : '', error);
  }
}
