/**
 * One forwarded connection, runtime side: dial the pod's port, then copy bytes both ways with
 * backpressure until both directions have ended. Used for SPDY stream pairs and for WebSocket
 * v4 channels alike.
 *
 * Departure from containerd, on purpose: containerd closes the pod connection at most 1 s after
 * the first direction ends (it has no CloseWrite), so a client's half-close cuts off the pod's
 * late replies. This endpoint propagates half-close both ways (TCP FIN to the pod, FIN on the
 * stream), which is what a test server should do; spec/portforward.md describes both.
 */
import type { Duplex } from 'node:stream';
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
  if (client.destroyed) {
    podSocket.destroy();
    return 'reset';
  }
  return new Promise((resolve) => {
    let clientEnded = false;
    let podEnded = false;
    let settled = false;
    const settle = (outcome: 'done' | 'reset'): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const finishIfBothEnded = (): void => {
      if (clientEnded && podEnded) {
        podSocket.destroy();
        settle('done');
      }
    };
    client.on('data', (chunk: Buffer) => {
      counters.bytesToPod += chunk.length;
      if (!podSocket.write(chunk)) client.pause();
    });
    podSocket.on('drain', () => client.resume());
    client.on('end', () => {
      clientEnded = true;
      podSocket.end();
      finishIfBothEnded();
    });
    podSocket.on('data', (chunk: Buffer) => {
      counters.bytesFromPod += chunk.length;
      if (!client.write(chunk)) podSocket.pause();
    });
    client.on('drain', () => podSocket.resume());
    podSocket.on('end', () => {
      podEnded = true;
      client.end();
      finishIfBothEnded();
    });
    // A reset on either side resets the other, without error text: that is what containerd does
    // for ECONNRESET/EPIPE, and kubectl then keeps the rest of its connections.
    podSocket.on('error', () => {
      client.destroy();
      settle('reset');
    });
    podSocket.on('close', () => {
      if (!podEnded) {
        client.destroy();
        settle('reset');
      }
    });
    client.on('error', () => {
      podSocket.destroy();
      settle('reset');
    });
    client.on('close', () => {
      if (!clientEnded || !podEnded) podSocket.destroy();
      settle(clientEnded && podEnded ? 'done' : 'reset');
    });
  });
}
