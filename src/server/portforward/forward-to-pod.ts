/**
 * One forwarded connection, runtime side: dial the pod's port, then splice the client's side to it
 * (src/util/splice.ts: bytes both ways with backpressure until both directions have ended). Used
 * for SPDY stream pairs and for WebSocket v4 channels alike.
 *
 * Departure from containerd, on purpose: containerd closes the pod connection at most 1 s after
 * the first direction ends (it has no CloseWrite), so a client's half-close cuts off the pod's
 * late replies. This endpoint propagates half-close both ways (TCP FIN to the pod, FIN on the
 * stream), which is what a test server should do; spec/portforward.md describes both.
 */
import type { Duplex } from 'node:stream';
import { splice } from '../../util/splice.js';
import { dialFailureMessage, type DialFunction } from './pod-dialer.js';
import type { PodTarget } from './types.js';

/** The endpoint counters a forwarded connection updates. */
export interface ForwardCounters {
  bytesToPod: number;
  bytesFromPod: number;
  dialFailures: number;
}

/** One forwarded connection to set up: the pod and port, the client side, and how to report failure. */
export interface ForwardRequest {
  readonly pod: PodTarget;
  readonly port: number;
  /** The client's side of the connection (a SPDY data stream, or a v4 data channel). */
  readonly client: Duplex;
  /** Reports a failure to the client (the error stream or channel). */
  readonly reportError: (message: string) => void;
  readonly dial: DialFunction;
  readonly counters: ForwardCounters;
}

/** Resolves when the forwarded connection is over: 'done', 'dial-failed' or 'reset'. */
export async function forwardToPod(request: ForwardRequest): Promise<'done' | 'dial-failed' | 'reset'> {
  const { pod, port, client, counters } = request;
  const target = pod.resolvePort(port);
  let podSocket: Duplex;
  try {
    podSocket = await request.dial(target, { pod, port });
  } catch (error) {
    counters.dialFailures++;
    request.reportError(dialFailureMessage(pod, port, target, error));
    return 'dial-failed';
  }
  const { outcome } = await splice(client, podSocket, {
    onChunk: (direction, bytes) => {
      if (direction === 'aToB') counters.bytesToPod += bytes;
      else counters.bytesFromPod += bytes;
    },
    // A reset on either side resets the other, without error text: that is what containerd does
    // for ECONNRESET/EPIPE, and kubectl then keeps the rest of its connections. containerd closes
    // the pod connection (a FIN, not an RST) when the stream fails, and so does this endpoint.
    resetTcp: false,
  });
  if (outcome === 'done') podSocket.destroy();
  return outcome;
}
