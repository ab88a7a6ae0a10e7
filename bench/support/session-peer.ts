/**
 * The server side of the session memory benchmark, run in a worker thread: a worker has its own
 * V8 heap, so each side's bytes per stream can be measured apart although both live in one
 * process. It listens on 127.0.0.1, runs one server SpdySession on the first connection, accepts
 * every stream and answers the main thread's requests (see {@link PeerRequest}).
 */
import { once } from 'node:events';
import net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { SpdySession } from '../../src/session/index.js';
import { settledHeapBytes } from './gc.js';

/** What the main thread passes as `workerData`. */
export interface PeerConfig {
  readonly maxConcurrentStreams: number;
}

/** Requests from the main thread; each is answered with one {@link PeerReply}. */
export type PeerRequest =
  | { readonly type: 'heap' }
  | { readonly type: 'waitStreams'; readonly count: number }
  | { readonly type: 'close' };

/** Answers to the main thread. `listening` comes unasked, once, with the port to connect to. */
export type PeerReply =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'heap'; readonly heapBytes: number; readonly streams: number }
  | { readonly type: 'streams'; readonly count: number }
  | { readonly type: 'closed' }
  | { readonly type: 'failed'; readonly message: string };

async function serve(port: NonNullable<typeof parentPort>, config: PeerConfig): Promise<void> {
  const reply = (message: PeerReply): void => port.postMessage(message);
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  reply({ type: 'listening', port: (listener.address() as net.AddressInfo).port });
  const [socket] = await accepted;
  socket.setNoDelay(true);
  const session = new SpdySession(socket, { role: 'server', maxConcurrentStreams: config.maxConcurrentStreams });
  session.on('stream', (stream) => stream.accept());

  // One outstanding wait at a time: the main thread awaits each answer before the next request.
  let waitingFor: number | undefined;
  const checkWait = (): void => {
    if (waitingFor !== undefined && session.activeStreams === waitingFor) {
      waitingFor = undefined;
      reply({ type: 'streams', count: session.activeStreams });
    }
  };
  session.on('streamOpened', checkWait);
  session.on('streamClosed', checkWait);
  session.on('close', (error) => {
    if (error !== undefined) reply({ type: 'failed', message: `server session closed: ${error.message}` });
  });

  port.on('message', (request: PeerRequest) => {
    switch (request.type) {
      case 'heap':
        reply({ type: 'heap', heapBytes: settledHeapBytes(), streams: session.activeStreams });
        return;
      case 'waitStreams':
        waitingFor = request.count;
        checkWait();
        return;
      case 'close':
        session.removeAllListeners('close');
        session.destroy();
        listener.close(() => {
          reply({ type: 'closed' });
          port.close();
        });
        return;
    }
  });
}

if (parentPort !== null) {
  const port = parentPort;
  serve(port, workerData as PeerConfig).catch((error: unknown) => {
    port.postMessage({ type: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies PeerReply);
  });
}
