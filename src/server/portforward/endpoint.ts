/**
 * STUB (being written by the lead): the kubelet/runtime-compatible port-forward endpoint.
 * The interface below is the contract the fake cluster codes against.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** The pod a port-forward request addresses, as the fake cluster resolved it. */
export interface PodTarget {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Where a connection to the pod's `port` goes (default 127.0.0.1:port). */
  resolvePort(port: number): { host: string; port: number };
}

/** Fault actions the endpoint understands (the cluster handles `replace-pod` itself). */
export type EndpointFault = 'drop' | 'blackhole' | 'stall' | 'refuse' | 'goaway' | 'clear';

export interface EndpointStats {
  readonly sessions: number;
  readonly activeSessions: number;
  readonly streams: number;
  readonly bytesToPod: number;
  readonly bytesFromPod: number;
  readonly dialFailures: number;
}

export class PortForwardEndpoint {
  /** Handles an upgrade request for pods/NAME/portforward (SPDY/3.1, SPDY in WebSocket, or WebSocket v4). */
  handleUpgrade(_req: IncomingMessage, socket: Duplex, _head: Buffer, _pod: PodTarget): void {
    socket.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n');
  }

  /** Answers a portforward request that is not an upgrade, as the API server does (400). */
  handleRequest(_req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(400, { 'content-type': 'text/plain' }).end('Upgrade request required');
  }

  /** Applies a fault; `status` is used by `refuse` (default 503). Throws ERR_INVALID_ARGUMENT for an unknown action. */
  applyFault(_action: EndpointFault, _params: { status?: number } = {}): void {}

  stats(): EndpointStats {
    return { sessions: 0, activeSessions: 0, streams: 0, bytesToPod: 0, bytesFromPod: 0, dialFailures: 0 };
  }

  /** Closes every upgraded connection. */
  async close(): Promise<void> {}
}
