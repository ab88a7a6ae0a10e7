/**
 * The forwarders the forward bench compares, each started as its own process listening on
 * 127.0.0.1 and forwarding to the same pod port through the same fake cluster:
 *
 * - `kubemux forward` over each transport (`--protocol websocket | spdy | v4`);
 * - kubectl 1.33 `port-forward`, its default (the WebSocket tunnel) and SPDY
 *   (`KUBECTL_PORT_FORWARD_WEBSOCKETS=false`), when `kubectl.1.33` is installed;
 * - @kubernetes/client-node's `PortForward` (client-node-forward.ts);
 * - a naive Node TCP proxy straight to the target (tcp-proxy.ts), and raw TCP to the target (no
 *   process at all): the references a forwarder is measured against.
 *
 * Every Node contender runs with `--expose-gc` and the memory probe preloaded (memory-probe.ts),
 * so that its heap can be read as well as its RSS; nothing else differs from how a user runs it.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { KUBEMUX_BIN } from '../../test/support/cli.js';
import { findKubectl, kubectlVersion, startPortForward } from '../../test/support/kubectl.js';
import { startChild, type Child } from './child.js';
import type { ClusterProcess } from './cluster-process.js';
import { POD_PORT } from './cluster-process.js';
import { MEMORY_REQUEST, type MemoryReport } from './memory-probe.js';
import type { Target } from './target.js';

/** Who wrote the forwarder. */
export type Family = 'kubemux' | 'kubectl' | 'client-node' | 'tcp-proxy' | 'raw-tcp';
/** What it speaks to the server (`tcp`: no server, straight to the target). */
export type Transport = 'websocket' | 'spdy' | 'v4' | 'tcp';

/** What a contender is started against. */
export interface BenchEnvironment {
  readonly cluster: ClusterProcess;
  readonly target: Target;
}

/** Extra start options (the recovery scenario's). */
export interface StartOptions {
  /** kubemux only: more arguments (`--ping-interval`, `--json`). */
  readonly kubemuxArgs?: readonly string[];
}

/** A forwarder the bench can start. */
export interface ContenderSpec {
  /** Stable id, used in the JSON results: `kubemux-spdy`. */
  readonly id: string;
  /** As printed in tables: `kubemux spdy`. */
  readonly label: string;
  readonly family: Family;
  readonly transport: Transport;
  /** Why it cannot run on this machine, or undefined. */
  readonly unavailable: string | undefined;
  /** The version that runs (kubectl's gitVersion, client-node's package version). */
  readonly version: string | undefined;
  start(env: BenchEnvironment, options?: StartOptions): Promise<RunningContender>;
}

/** A started contender. */
export interface RunningContender {
  readonly spec: ContenderSpec;
  /** Where the bench connects. */
  readonly port: number;
  /** The forwarding process, or undefined for raw TCP. */
  readonly pid: number | undefined;
  /** False once the process has exited (raw TCP: always true). */
  alive(): boolean;
  /** Heap and RSS after collections (Node contenders), else undefined. */
  memory(): Promise<MemoryReport | undefined>;
  /** Its output so far (the last 64 KiB), for failure notes. */
  output(): string;
  /** Called with each stdout line (kubemux, client-node, the proxy; not kubectl). */
  onLine(listener: (line: string) => void): void;
  stop(): Promise<void>;
}

const PROBE_URL = pathToFileURL(fileURLToPath(new URL('./memory-probe.js', import.meta.url))).href;
const CLIENT_NODE_SCRIPT = fileURLToPath(new URL('./client-node-forward.js', import.meta.url));
const PROXY_SCRIPT = fileURLToPath(new URL('./tcp-proxy.js', import.meta.url));
const FORWARDING_LINE = /Forwarding from 127\.0\.0\.1:(\d+) ->/;
const JSON_LISTENING = /"event":"listening".*"port":(\d+)/;

/** `node --expose-gc --import memory-probe.js` (and `--cpu-prof` when KUBEMUX_BENCH_CPU_PROF names a folder). */
function nodeArgs(profile: boolean): string[] {
  const dir = process.env['KUBEMUX_BENCH_CPU_PROF'];
  return ['--expose-gc', '--import', PROBE_URL, ...(profile && dir !== undefined && dir !== '' ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])];
}

function askMemory(child: ChildProcess): Promise<MemoryReport | undefined> {
  if (!child.connected) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      resolve(undefined);
    }, 20_000);
    const onMessage = (message: MemoryReport): void => {
      if (message?.type !== MEMORY_REQUEST) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.send({ type: MEMORY_REQUEST });
  });
}

/** A Node child that prints a `Forwarding from 127.0.0.1:PORT` line (or kubemux's JSON `listening` event). */
async function startNodeForwarder(spec: ContenderSpec, args: readonly string[], profile: boolean, json: boolean): Promise<RunningContender> {
  const child: Child = startChild(process.execPath, [...nodeArgs(profile), ...args], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let port: number;
  try {
    const line = await child.line(json ? JSON_LISTENING : FORWARDING_LINE, 30_000);
    port = Number((json ? JSON_LISTENING : FORWARDING_LINE).exec(line)![1]);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    spec,
    port,
    pid: child.pid,
    alive: () => !child.exited,
    memory: () => askMemory(child.process),
    output: () => child.output(),
    onLine: (listener) => child.onLine(listener),
    stop: () => child.stop(),
  };
}

function kubemux(protocol: 'websocket' | 'spdy' | 'v4'): ContenderSpec {
  const spec: ContenderSpec = {
    id: `kubemux-${protocol}`,
    label: `kubemux ${protocol === 'websocket' ? 'tunnel' : protocol}`,
    family: 'kubemux',
    transport: protocol,
    unavailable: undefined,
    version: undefined,
    start: (env, options = {}) => {
      const extra = options.kubemuxArgs ?? [];
      const args = [KUBEMUX_BIN, 'forward', 'pod/demo', `0:${POD_PORT}`, '--address', '127.0.0.1', '--kubeconfig', env.cluster.kubeconfigPath, '--protocol', protocol, ...extra];
      return startNodeForwarder(spec, args, true, extra.includes('--json'));
    },
  };
  return spec;
}

function kubectl(websockets: boolean): ContenderSpec {
  const binary = findKubectl('1.33');
  const version = binary === undefined ? undefined : kubectlVersion(binary)?.gitVersion;
  const spec: ContenderSpec = {
    id: `kubectl-1.33-${websockets ? 'websocket' : 'spdy'}`,
    label: `kubectl 1.33 ${websockets ? 'tunnel' : 'spdy'}`,
    family: 'kubectl',
    transport: websockets ? 'websocket' : 'spdy',
    unavailable: binary === undefined ? 'kubectl.1.33 not found next to the PATH kubectl (and the PATH kubectl is not 1.33)' : undefined,
    version,
    async start(env) {
      const forward = await startPortForward({
        kubectl: binary!,
        serverUrl: env.cluster.url,
        target: 'pod/demo',
        remotePort: POD_PORT,
        // The tunnel is kubectl 1.33's default: leave the variable unset, as a user does.
        websockets: websockets ? 'unset' : 'false',
        readyTimeoutMs: 30_000,
      });
      return {
        spec,
        port: forward.localPort,
        pid: forward.pid,
        alive: () => processExists(forward.pid),
        memory: async () => undefined,
        output: () => forward.output().slice(-64 * 1024),
        onLine: () => undefined,
        stop: async () => {
          await forward.stop(3_000);
        },
      };
    },
  };
  return spec;
}

function clientNode(): ContenderSpec {
  const spec: ContenderSpec = {
    id: 'client-node',
    label: 'client-node v4',
    family: 'client-node',
    transport: 'v4',
    unavailable: undefined,
    version: clientNodeVersion(),
    start: (env) => startNodeForwarder(spec, [CLIENT_NODE_SCRIPT, env.cluster.kubeconfigPath, 'demo', String(POD_PORT)], false, false),
  };
  return spec;
}

function tcpProxy(): ContenderSpec {
  const spec: ContenderSpec = {
    id: 'tcp-proxy',
    label: 'Node TCP proxy (pipe)',
    family: 'tcp-proxy',
    transport: 'tcp',
    unavailable: undefined,
    version: undefined,
    start: (env) => startNodeForwarder(spec, [PROXY_SCRIPT, String(env.target.port)], false, false),
  };
  return spec;
}

function rawTcp(): ContenderSpec {
  const spec: ContenderSpec = {
    id: 'raw-tcp',
    label: 'raw TCP (no forwarder)',
    family: 'raw-tcp',
    transport: 'tcp',
    unavailable: undefined,
    version: undefined,
    start: async (env) => ({
      spec,
      port: env.target.port,
      pid: undefined,
      alive: () => true,
      memory: async () => undefined,
      output: () => '',
      onLine: () => undefined,
      stop: async () => undefined,
    }),
  };
  return spec;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function clientNodeVersion(): string | undefined {
  try {
    const url = new URL('../../../node_modules/@kubernetes/client-node/package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** Every contender, in table order. */
export function allContenders(): ContenderSpec[] {
  return [kubemux('websocket'), kubemux('spdy'), kubemux('v4'), kubectl(true), kubectl(false), clientNode(), tcpProxy(), rawTcp()];
}
