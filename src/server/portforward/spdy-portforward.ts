/**
 * The runtime side of one SPDY port-forward connection: streams arrive in (error, data) pairs
 * that share a `requestid`; once both are there, the data stream is forwarded to the pod's port
 * and failures are written, as text, on the error stream. Semantics follow the Kubernetes CRI
 * streaming library (spec/portforward.md): header validation with RST CANCEL for bad streams,
 * pairing with a timeout, one forwarded TCP connection per pair.
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
        incomplete.error?.end(`timed out waiting for streams for request ${requestId}`);
        incomplete.data?.destroy();
      }, context.pairingTimeoutMs);
      timer.unref();
      pair = { timer };
      pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) {
      pair.error?.write(`error processing stream for request ${requestId}: ${type} stream already assigned`);
      stream.destroy();
      return;
    }
    pair[type] = stream;
    const { error: errorStream, data: dataStream } = pair;
    if (errorStream === undefined || dataStream === undefined) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    context.counters.streams++;
    // The client never writes on the error stream (it sends FIN at once); drain it all the same.
    errorStream.resume();
    void forwardToPod({
      pod: context.pod,
      port,
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
