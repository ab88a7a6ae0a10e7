/**
 * Set-ups for session tests: a {@link SpdySession} under test and a {@link ScriptedPeer} at the
 * other end of its transport, over an in-memory duplex pair or a real loopback TCP connection.
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SpdySession, type SpdySessionOptions } from '../../src/session/index.js';
import { CountingTransport } from './counting-transport.js';
import { duplexPair } from './duplex-pair.js';
import { ScriptedPeer, type ScriptedPeerOptions } from './scripted-peer.js';

/** A session under test and the scripted peer at the other end of its transport. */
export interface ScriptedSetup {
  readonly session: SpdySession;
  readonly peer: ScriptedPeer;
  /** Destroys the session and the peer's transport (and, for TCP, the listener). Idempotent. */
  dispose(): Promise<void>;
}

/** A TCP set-up also exposes both sockets. */
export interface ScriptedTcpSetup extends ScriptedSetup {
  /** The session's socket. */
  readonly sessionSocket: Socket;
  /** The peer's socket (also `peer.transport`). */
  readonly peerSocket: Socket;
}

function peerRole(options: SpdySessionOptions): 'client' | 'server' {
  return options.role === 'client' ? 'server' : 'client';
}

/** A session and a scripted peer over an in-memory duplex pair. */
export function scriptedPair(sessionOptions: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): ScriptedSetup {
  return pairOver(duplexPair(), sessionOptions, peerOptions);
}

/** A {@link ScriptedSetup} whose session writes through a {@link CountingTransport}, for tests that count its writes. */
export function countingScriptedPair(
  sessionOptions: SpdySessionOptions,
  peerOptions: Partial<ScriptedPeerOptions> = {},
): ScriptedSetup & { readonly transport: CountingTransport } {
  const [sessionEnd, peerEnd] = duplexPair();
  const transport = new CountingTransport(sessionEnd);
  return { ...pairOver([transport, peerEnd], sessionOptions, peerOptions), transport };
}

function pairOver([sessionEnd, peerEnd]: readonly [Duplex, Duplex], sessionOptions: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions>): ScriptedSetup {
  // The peer listens before the session can write its first frames (server SETTINGS).
  const peer = new ScriptedPeer(peerEnd, { role: peerRole(sessionOptions), ...peerOptions });
  const session = new SpdySession(sessionEnd, sessionOptions);
  return {
    session,
    peer,
    dispose: async () => {
      session.destroy();
      peer.destroy();
    },
  };
}

/** A session and a scripted peer over a real loopback TCP connection (127.0.0.1, ephemeral port). */
export async function scriptedTcpPair(sessionOptions: SpdySessionOptions, peerOptions: Partial<ScriptedPeerOptions> = {}): Promise<ScriptedTcpSetup> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const sessionSocket = connect(address.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sessionSocket.once('connect', resolve);
      sessionSocket.once('error', reject);
    });
    const peerSocket = await accepted;
    const peer = new ScriptedPeer(peerSocket, { role: peerRole(sessionOptions), ...peerOptions });
    const session = new SpdySession(sessionSocket, sessionOptions);
    return {
      session,
      peer,
      sessionSocket,
      peerSocket,
      dispose: async () => {
        session.destroy();
        peerSocket.destroy();
        sessionSocket.destroy();
      },
    };
  } finally {
    // Stop listening at once. Not awaited: close() calls back only once the accepted
    // connection has ended too, and that connection is the one the test is about to use.
    server.close();
  }
}
