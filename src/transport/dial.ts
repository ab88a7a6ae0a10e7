/**
 * Choosing the wire protocol: one entry point that dials any of the three transports and returns a
 * {@link PortForwardConnection}, with kubectl's negotiation as the default.
 *
 * `'auto'` (kubectl ≥ 1.31 does the first two steps: `fallback_dialer.go`,
 * spec/websocket-channels.md §2.4):
 *
 *   1. the SPDY tunnel in WebSocket;
 *   2. if its upgrade was refused (ERR_UPGRADE_REFUSED: any non-101 answer) or answered wrongly
 *      (ERR_UPGRADE_INVALID): plain SPDY;
 *   3. if that upgrade was refused or invalid too: the v4 channel protocol, unless the SPDY
 *      refusal was 401 or 404, which say the same about every protocol (the credentials, the pod)
 *      and are reported as they are.
 *
 * Errors that are not about the upgrade itself never fall back: a connect, TLS or proxy failure,
 * a deadline, a connection closed before answering, an answer that is not HTTP at all (another
 * service on the port: ERR_PROTOCOL), an abort, and anything after a successful upgrade. v4
 * is the last resort and sends nothing at dial time (each pair is its own upgrade, which makes the
 * runtime dial the pod), so its first pair tells whether it works.
 *
 * A {@link PortForwardDialer} remembers the protocol that worked, so that later dials to the same
 * server go straight to it; when the remembered protocol's upgrade is refused later (the server
 * changed), it negotiates again.
 */
import { ErrorCode, KubemuxError, abortError, isKubemuxError } from '../errors.js';
import type { SpdySessionOptions } from '../session/index.js';
import {
  PORT_FORWARD_PROTOCOLS,
  type PortForwardConnection,
  type PortForwardProtocol,
} from './port-forward-connection.js';
import type { UpgradeTarget } from './api/request-target.js';
import { SpdyPortForwardConnection } from './spdy/port-forward.js';
import { dialSpdy } from './spdy/upgrade.js';
import { signalError } from '../util/validate.js';
import { dialWebSocketTunnel, type WebSocketTunnelOptions } from './tunnel/dial.js';
import { dialWebSocketV4 } from './v4/connection.js';
import type { WebSocketV4Options } from './v4/options.js';

/** A protocol to force, or `'auto'` for kubectl's negotiation with the v4 last resort. */
export type PortForwardProtocolChoice = 'auto' | PortForwardProtocol;

/** Options of {@link dialPortForward} and {@link PortForwardDialer}. */
export interface PortForwardDialOptions {
  /** Which protocol to use. Default `'auto'`. */
  readonly protocol?: PortForwardProtocolChoice;
  /** Options of the SPDY session (`'spdy'` and `'websocket-tunnel'`); the role is always 'client'. */
  readonly session?: Omit<SpdySessionOptions, 'role'>;
  /** WebSocket options of the tunnel. */
  readonly tunnel?: WebSocketTunnelOptions;
  /** Options of the v4 transport. */
  readonly v4?: WebSocketV4Options;
}

/** Options of one dial ({@link dialPortForward}, {@link dialProtocol}, {@link negotiatePortForward}): the dial options and the call's signal. */
export interface DialPortForwardOptions extends PortForwardDialOptions {
  /**
   * Aborts the dial, negotiation included: it rejects with ERR_ABORTED (`name` `'AbortError'`,
   * the signal's reason as `cause`; a KubemuxError reason as it is), leaves no socket open and
   * tries no further protocol. An aborted signal sends nothing. No effect on the connection
   * once it is returned.
   */
  readonly signal?: AbortSignal;
}

/** Options of {@link PortForwardDialer.dial}. */
export interface PortForwardDialerDialOptions {
  /** Aborts this dial, as {@link DialPortForwardOptions.signal}. */
  readonly signal?: AbortSignal;
  /**
   * Where this dial goes instead of the dialer's target: the same API server with fresh
   * credentials, or the pod that replaced the old one. The protocol found is kept (a server does
   * not change its protocols between two dials; a refusal negotiates again).
   */
  readonly target?: UpgradeTarget;
}

/** The outcome of one negotiation: the connection, and every protocol tried on the way, in order. */
export interface NegotiatedConnection {
  readonly connection: PortForwardConnection;
  /** The protocols tried, the last one being `connection.protocol`; earlier ones were refused. */
  readonly attempted: readonly PortForwardProtocol[];
  /** Why each earlier protocol was passed over, in the order of `attempted` (each message names its upgrade). */
  readonly refusals: readonly KubemuxError[];
}

/** HTTP statuses of a refused upgrade that no other protocol can get past. */
const FINAL_STATUSES: ReadonlySet<number> = new Set([401, 404]);

/**
 * Whether an upgrade error lets `'auto'` try the next protocol: ERR_UPGRADE_REFUSED or
 * ERR_UPGRADE_INVALID (kubectl's `httpstream.IsUpgradeFailure`). Everything else is final.
 */
export function isUpgradeFailure(error: unknown): error is KubemuxError {
  return isKubemuxError(error, ErrorCode.UPGRADE_REFUSED) || isKubemuxError(error, ErrorCode.UPGRADE_INVALID);
}

/** Dials exactly one protocol; no fallback. Fails as {@link dialPortForward}. */
export async function dialProtocol(target: UpgradeTarget, protocol: PortForwardProtocol, options: DialPortForwardOptions = {}): Promise<PortForwardConnection> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  switch (protocol) {
    case 'spdy':
      return new SpdyPortForwardConnection(await dialSpdy(target, { ...(options.session === undefined ? {} : { session: options.session }), ...signal }), 'spdy');
    case 'websocket-tunnel':
      return new SpdyPortForwardConnection(
        await dialWebSocketTunnel(target, {
          ...(options.session === undefined ? {} : { session: options.session }),
          ...(options.tunnel === undefined ? {} : { tunnel: options.tunnel }),
          ...signal,
        }),
        'websocket-tunnel',
      );
    case 'websocket-v4':
      return dialWebSocketV4(target, { ...options.v4, ...signal });
    default:
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `unknown port-forward protocol ${JSON.stringify(protocol)}; expected one of auto, ${PORT_FORWARD_PROTOCOLS.join(', ')}`);
  }
}

/**
 * Negotiates as `'auto'` does (see the file comment), starting from `order[0]`, and reports what
 * was tried. Fails with the last protocol's error when no protocol is left to try.
 */
export async function negotiatePortForward(
  target: UpgradeTarget,
  options: DialPortForwardOptions = {},
  order: readonly PortForwardProtocol[] = PORT_FORWARD_PROTOCOLS,
): Promise<NegotiatedConnection> {
  const bad = signalError(options.signal);
  if (bad !== undefined) throw bad;
  const attempted: PortForwardProtocol[] = [];
  const refusals: KubemuxError[] = [];
  for (let i = 0; i < order.length; i++) {
    const protocol = order[i]!;
    // An abort between two attempts stops the negotiation there (each dial checks it too).
    if (options.signal?.aborted === true) throw abortError(options.signal, 'transport', 'the port-forward dial');
    attempted.push(protocol);
    try {
      const connection = await dialProtocol(target, protocol, options);
      return { connection, attempted, refusals };
    } catch (error) {
      if (i === order.length - 1 || !isUpgradeFailure(error)) throw error;
      // The tunnel's refusal always falls back (kubectl does so for any non-101); past it, a
      // refusal that names the credentials or the pod would only repeat itself.
      if (protocol !== 'websocket-tunnel' && FINAL_STATUSES.has(error.httpStatus ?? 0)) throw error;
      refusals.push(error);
    }
  }
  throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'no port-forward protocol to try');
}

/**
 * Dials a port-forward connection to `target` (the pod's portforward path): the protocol of
 * `options.protocol`, or kubectl's negotiation for `'auto'` (the default). Fails with the
 * transport's error (ERR_CONNECT_FAILED, ERR_TLS, ERR_TIMEOUT, ERR_UPGRADE_REFUSED with the
 * server's message, ERR_PROTOCOL when the server does not speak HTTP, ...), ERR_ABORTED (the
 * signal) or ERR_INVALID_ARGUMENT (usage).
 */
export async function dialPortForward(target: UpgradeTarget, options: DialPortForwardOptions = {}): Promise<PortForwardConnection> {
  const choice = options.protocol ?? 'auto';
  if (choice === 'auto') return (await negotiatePortForward(target, options)).connection;
  return dialProtocol(target, choice, options);
}

/**
 * Dials connections to one target again and again (a replacement layer's dialer), remembering
 * the protocol that worked: the first `'auto'` dial negotiates, later ones go straight to the
 * protocol found. If that protocol's upgrade is refused later, the dialer negotiates again from
 * the start. A forced protocol is always used as it is.
 */
export class PortForwardDialer {
  /** Where every connection goes. */
  readonly target: UpgradeTarget;
  readonly #options: PortForwardDialOptions;
  #remembered: PortForwardProtocol | undefined;

  /** Throws ERR_INVALID_ARGUMENT (usage) for an unknown protocol. */
  constructor(target: UpgradeTarget, options: PortForwardDialOptions = {}) {
    const choice = options.protocol ?? 'auto';
    if (choice !== 'auto' && !PORT_FORWARD_PROTOCOLS.includes(choice)) {
      throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `unknown port-forward protocol ${JSON.stringify(choice)}; expected one of auto, ${PORT_FORWARD_PROTOCOLS.join(', ')}`);
    }
    this.target = target;
    this.#options = options;
    this.#remembered = choice === 'auto' ? undefined : choice;
  }

  /** The protocol the next dial uses first: the forced one, the one that worked, or undefined before the first `'auto'` negotiation. */
  get protocol(): PortForwardProtocol | undefined {
    return this.#remembered;
  }

  /** Dials a new connection (see the class comment). Fails as {@link dialPortForward}. */
  async dial(options: PortForwardDialerDialOptions = {}): Promise<PortForwardConnection> {
    const bad = signalError(options.signal);
    if (bad !== undefined) throw bad;
    const target = options.target ?? this.target;
    const dialOptions: DialPortForwardOptions = options.signal === undefined ? this.#options : { ...this.#options, signal: options.signal };
    const forced = (this.#options.protocol ?? 'auto') !== 'auto';
    const remembered = this.#remembered;
    if (forced) return dialProtocol(target, remembered!, dialOptions);
    if (remembered !== undefined) {
      try {
        return await dialProtocol(target, remembered, dialOptions);
      } catch (error) {
        if (!isUpgradeFailure(error)) throw error;
        this.#remembered = undefined;
      }
    }
    const { connection } = await negotiatePortForward(target, dialOptions);
    this.#remembered = connection.protocol;
    return connection;
  }

  /** Forgets the protocol found, so that the next `'auto'` dial negotiates again. No effect on a forced protocol. */
  forget(): void {
    if ((this.#options.protocol ?? 'auto') === 'auto') this.#remembered = undefined;
  }
}
