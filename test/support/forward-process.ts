/**
 * A forwarder in a child process, steered over IPC, for what a test cannot see from inside its
 * own process: the forwarder's own RSS, exiting by itself once closed (nothing left running), a
 * low descriptor limit. Started by {@link startForwardProcess} (test/support/forward-child.ts runs
 * this file's {@link runForwardChild} in the child).
 *
 * Messages, parent -> child: `{ type: 'arm' }` (report the next pause of a pair's data stream,
 * i.e. the splice holding the pod back because the local client does not read), `{ type: 'rss' }`
 * (after a full GC with `gc: true`),
 * `{ type: 'close', mode }`. Child -> parent: `ready`, `paused`, `rss`, `event`, `closed`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { PortForwarder } from '../../src/forwarder/index.js';
import type { ListenerInfo } from '../../src/forwarder/index.js';
import { dialProtocol } from '../../src/transport/dial.js';
import type { PortForwardProtocol, PortStreamOpener } from '../../src/transport/port-forward-connection.js';
import { portForwardPath } from '../../src/transport/api/request-target.js';
import { within } from './deadlines.js';

/** What the child is asked to forward. */
export interface ForwardChildConfig {
  readonly clusterUrl: string;
  readonly protocol: PortForwardProtocol;
  readonly ports: readonly string[];
  readonly addresses?: readonly string[];
}

/** Child -> parent messages. */
export type ForwardChildMessage =
  | { type: 'ready'; listeners: readonly ListenerInfo[]; rss: number }
  | { type: 'paused'; rss: number }
  | { type: 'rss'; rss: number }
  | { type: 'event'; name: string; info: Record<string, unknown> }
  | { type: 'closed' };

/** Parent -> child messages. */
export type ForwardParentMessage = { type: 'arm' } | { type: 'rss'; gc?: boolean } | { type: 'close'; mode: 'finish' | 'abort' };

/** The child's side: dial, forward, answer the parent; returns once closed (the process must then exit by itself). */
export async function runForwardChild(config: ForwardChildConfig): Promise<void> {
  const send = (message: ForwardChildMessage): void => {
    process.send?.(message);
  };
  const connection = await dialProtocol({ server: config.clusterUrl, path: portForwardPath('default', 'demo') }, config.protocol);
  let armed = false;
  // Watches each pair's data stream for the splice pausing it.
  const opener: PortStreamOpener = {
    async openPortStreams(port, options) {
      const pair = await connection.openPortStreams(port, options);
      pair.data.on('pause', () => {
        if (!armed) return;
        armed = false;
        send({ type: 'paused', rss: process.memoryUsage.rss() });
      });
      return pair;
    },
  };
  const forwarder = new PortForwarder({ opener, ports: config.ports, ...(config.addresses === undefined ? {} : { addresses: config.addresses }) });
  for (const name of ['connectionOpened', 'connectionClosed', 'connectionFailed', 'acceptError'] as const) {
    forwarder.on(name, (info: object) => {
      const { error, ...rest } = info as { error?: Error };
      send({ type: 'event', name, info: { ...rest, ...(error === undefined ? {} : { error: { code: (error as { code?: string }).code, message: error.message } }) } });
    });
  }
  const ready = await forwarder.ready;
  (globalThis as { gc?: () => void }).gc?.();
  send({ type: 'ready', listeners: ready.listeners, rss: process.memoryUsage.rss() });
  await new Promise<void>((resolve) => {
    process.on('message', (message: ForwardParentMessage) => {
      if (message.type === 'arm') armed = true;
      else if (message.type === 'rss') {
        if (message.gc === true) (globalThis as { gc?: () => void }).gc?.();
        send({ type: 'rss', rss: process.memoryUsage.rss() });
      }
      else if (message.type === 'close') {
        void forwarder.close({ mode: message.mode }).then(async () => {
          await connection.close();
          // Disconnect only once the message is out: an IPC channel closed with it queued drops it.
          process.send?.({ type: 'closed' } satisfies ForwardChildMessage, () => resolve());
        });
      }
    });
  });
  // Nothing else: the process ends when nothing is left running (the IPC channel included).
  process.disconnect();
}

/** The parent's handle on a forward child. */
export interface ForwardProcess {
  readonly child: ChildProcess;
  /** The forwarder's listeners. */
  readonly listeners: readonly ListenerInfo[];
  /** RSS right after the forwarder became ready (after a GC), bytes. */
  readonly baselineRss: number;
  /** Resolves with the next message of `type`. */
  next<T extends ForwardChildMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<ForwardChildMessage, { type: T }>>;
  send(message: ForwardParentMessage): void;
  /** Resolves once `count` events named `name` (connectionClosed, ...) have arrived since the start. */
  events(name: string, count: number, timeoutMs?: number): Promise<void>;
  /** Closes the forwarder and waits for the process to exit by itself; resolves with its exit code. */
  close(mode?: 'finish' | 'abort'): Promise<number | null>;
}

/**
 * Starts a forward child. `shell` wraps the command (e.g. `ulimit -n 64; exec "$@"`) when a
 * test needs process limits. The process is killed if the test leaves it running.
 */
export async function startForwardProcess(config: ForwardChildConfig, options: { execArgv?: readonly string[]; shellPrefix?: string } = {}): Promise<ForwardProcess> {
  const script = fileURLToPath(new URL('./forward-child.js', import.meta.url));
  const execArgv = ['--expose-gc', ...(options.execArgv ?? [])];
  const child =
    options.shellPrefix === undefined
      ? fork(script, [JSON.stringify(config)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : fork(script, [JSON.stringify(config)], {
          execPath: '/bin/sh',
          execArgv: ['-c', `${options.shellPrefix}; exec "$0" "$@"`, process.execPath, ...execArgv],
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        });
  const waiting: Array<{ type: string; resolve: (message: ForwardChildMessage) => void }> = [];
  const queue: ForwardChildMessage[] = [];
  const eventCounts = new Map<string, number>();
  const eventWaiters: Array<{ name: string; count: number; resolve: () => void }> = [];
  child.on('message', (message: ForwardChildMessage) => {
    if (message.type === 'event') {
      const count = (eventCounts.get(message.name) ?? 0) + 1;
      eventCounts.set(message.name, count);
      for (const waiter of eventWaiters.filter((w) => w.name === message.name && w.count <= count)) {
        eventWaiters.splice(eventWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      return;
    }
    const index = waiting.findIndex((w) => w.type === message.type);
    if (index >= 0) waiting.splice(index, 1)[0]!.resolve(message);
    else queue.push(message);
  });
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  const next = <T extends ForwardChildMessage['type']>(type: T, timeoutMs?: number): Promise<Extract<ForwardChildMessage, { type: T }>> => {
    const queued = queue.findIndex((m) => m.type === type);
    if (queued >= 0) return Promise.resolve(queue.splice(queued, 1)[0] as Extract<ForwardChildMessage, { type: T }>);
    const message = new Promise<ForwardChildMessage>((resolve) => waiting.push({ type, resolve }));
    const failed = exited.then(([code]) => {
      throw new Error(`the forward child exited (code ${String(code)}) before sending '${type}'`);
    });
    return within(Promise.race([message, failed]), `the forward child's '${type}'`, timeoutMs) as Promise<Extract<ForwardChildMessage, { type: T }>>;
  };
  const started = await next('ready', 30_000);
  return {
    child,
    listeners: started.listeners,
    baselineRss: started.rss,
    next,
    send: (message) => child.send(message),
    events(name, count, timeoutMs) {
      if ((eventCounts.get(name) ?? 0) >= count) return Promise.resolve();
      return within(new Promise<void>((resolve) => eventWaiters.push({ name, count, resolve })), `${count} '${name}' events in the forward child`, timeoutMs);
    },
    async close(mode = 'abort') {
      if (child.exitCode !== null) return child.exitCode;
      child.send({ type: 'close', mode } satisfies ForwardParentMessage);
      await next('closed', 30_000);
      const [code] = await within(exited, 'the forward child exiting by itself', 30_000);
      return code;
    },
  };
}
