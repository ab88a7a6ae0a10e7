/**
 * The bench's side of the target (target-server.ts): forks it, learns its port, asks for its
 * counters, stops it.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TargetReply, TargetRequest, TargetStats } from './target-server.js';

/** A running target. */
export interface Target {
  readonly port: number;
  readonly pid: number;
  stats(): Promise<TargetStats>;
  /** Resolves with the connections open at the target once they are `atMost` or fewer, or after `timeoutMs`. */
  settled(atMost: number, timeoutMs: number): Promise<number>;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./target-server.js', import.meta.url));

/** Starts the target as a child process. */
export async function startTarget(): Promise<Target> {
  const child = fork(SCRIPT, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: Array<(reply: TargetReply) => void> = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the target exited (code ${code}) before listening`)));
    child.once('message', (reply: TargetReply) => {
      if (reply.type === 'listening') resolve(reply.port);
      else reject(new Error(`the target said ${reply.type} before listening`));
    });
  });
  child.removeAllListeners('exit');
  child.on('message', (reply: TargetReply) => replies.shift()?.(reply));
  const ask = (request: TargetRequest): Promise<TargetReply> =>
    new Promise((resolve) => {
      replies.push(resolve);
      child.send(request);
    });
  const stats = async (): Promise<TargetStats> => {
    const reply = await ask({ type: 'stats' });
    if (reply.type !== 'stats') throw new Error(`the target answered ${reply.type} to stats`);
    return reply.stats;
  };
  return {
    port,
    pid: child.pid!,
    stats,
    async settled(atMost, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { open } = await stats();
        if (open <= atMost || Date.now() >= deadline) return open;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' } satisfies TargetRequest);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
