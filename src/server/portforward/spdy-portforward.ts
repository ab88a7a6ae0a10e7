/**
 * The runtime side of one SPDY port-forward connection: streams arrive in (error, data) pairs
 * that share a `requestid`; once both are there, the data stream is forwarded to the pod's port
 * and failures are written, as text, on the error stream. Semantics follow the Kubernetes CRI
 * streaming library (spec/portforward.md): header validation with RST CANCEL for bad streams,
 * pairing with a timeout, one forwarded TCP connection per pair, the port taken from the data
 * stream.
 *
 * Departure, for bounded memory: the library only forgets a pair that timed out (its streams stay
 * open until the client ends them); here both streams of an incomplete pair are reset, so that a
 * client that never completes its pairs cannot keep stream slots and memory for ever. A pair
 * whose only stream closes before its partner arrives is forgotten at once, for the same reason.
 */
import { RstStatus } from '../../spdy/index.js';
import type { SpdySession, SpdyStream } from '../../session/index.js';
import { forwardToPod, type ForwardCounters } from './forward-to-pod.js';
import type { DialFunction } from './pod-dialer.js';
import type { PodTarget } from './types.js';

/** What {@link serveSpdyPortForward} needs from the endpoint. */
export interface SpdyPortForwardContext {
  readonly pod: PodTarget;
  readonly dial: DialFunction;
  readonly pairingTimeoutMs: number;
  readonly counters: ForwardCounters & { streams: number; pairingTimeouts: number; rejectedStreams: number };
  /** True while the `stall` fault is on: new streams get no reply. */
  readonly stalled: () => boolean;
}

interface StreamPair {
  error?: SpdyStream;
  data?: SpdyStream;
  readonly timer: NodeJS.Timeout;
}

/** Parses a `port` header: a decimal 1..65535, nothing else. */
function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** Serves port-forward stream pairs on `session` until it closes. */
export function serveSpdyPortForward(session: SpdySession, context: SpdyPortForwardContext): void {
  const pairs = new Map<string, StreamPair>();

  session.on('stream', (stream) => {
    if (context.stalled()) return; // no SYN_REPLY: the client's open deadline decides
    const type = stream.header('streamtype');
    const port = parsePort(stream.header('port'));
    if (port === undefined || (type !== 'error' && type !== 'data')) {
      context.counters.rejectedStreams++;
      // The Kubernetes library rejects a bad stream with a plain reset (CANCEL).
      stream.reject(RstStatus.CANCEL);
      return;
    }
    stream.accept();
    // Clients from before 2016 sent no requestid; the library then pairs by stream id.
    const requestId = stream.header('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(requestId);
    if (pair === undefined) {
      const timer = setTimeout(() => {
        pairs.delete(requestId);
        context.counters.pairingTimeouts++;
        const incomplete = pair!;
        // The text and FIN first; then the reset, which frees the stream at once unless the
        // client has ended its side too (a clean close needs no reset).
        const errorStream = incomplete.error;
        errorStream?.end(`timed out waiting for streams for request ${requestId}`, () => errorStream.destroy());
        incomplete.data?.destroy();
      }, context.pairingTimeoutMs);
      timer.unref();
      const created: StreamPair = { timer };
      pair = created;
      pairs.set(requestId, created);
    }
    if (pair[type] !== undefined) {
      pair.error?.write(`error processing stream for request ${requestId}: ${type} stream already assigned`);
      stream.destroy();
      return;
    }
    pair[type] = stream;
    const { error: errorStream, data: dataStream } = pair;
    if (errorStream === undefined || dataStream === undefined) {
      // A lone stream that closes (the client reset it) takes its pair with it: otherwise a client
      // opening and resetting streams would leave a pair and a timer per stream for 30 s.
      const waiting = pair;
      stream.once('close', () => {
        // A pair leaves the map when it completes, so one still there is still incomplete.
        if (pairs.get(requestId) !== waiting) return;
        clearTimeout(waiting.timer);
        pairs.delete(requestId);
      });
      return;
    }
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    context.counters.streams++;
    // The kubelet forwards to the data stream's port (httpstream.go, portForward); the error
    // stream's port header is only validated, never compared (see spec/portforward.md §5).
    const dataPort = parsePort(dataStream.header('port'))!;
    // The client never writes on the error stream (it sends FIN at once); drain it all the same.
    errorStream.resume();
    void forwardToPod({
      pod: context.pod,
      port: dataPort,
      client: dataStream,
      dial: context.dial,
      counters: context.counters,
      reportError: (message) => {
        errorStream.end(message);
        // As the current Kubernetes library does after an error: reset the data stream so the
        // client stops sending and can open a new pair.
        dataStream.destroy();
      },
    }).then((outcome) => {
      if (outcome !== 'dial-failed' && !errorStream.destroyed) errorStream.end();
    });
  });

  session.on('close', () => {
    for (const pair of pairs.values()) clearTimeout(pair.timer);
    pairs.clear();
  });
}
