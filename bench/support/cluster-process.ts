/**
 * The server every contender goes through: `kubemux fake-cluster --flow-control auto` as a child
 * process, with one pod `demo` whose port 8080 is mapped to the bench's target.
 *
 * A child process rather than a FakeCluster in the bench's own process: in-process, the server
 * would share one event loop with the load generator and the clock that times every connection,
 * so its work would be queued behind the bench's (and the bench's timings behind the server's),
 * and its CPU would be hidden in the bench's. As a child it is scheduled on its own (on a 2-core
 * machine, on the core the contender is not using, when there is one) and its CPU time is read
 * from /proc the same way as the contender's, to show how far it is from being the bottleneck.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterConfig } from '../../src/server/cluster-config.js';
import { KUBEMUX_BIN } from '../../test/support/cli.js';
import { startChild, type Child } from './child.js';

/** The pod port the contenders forward (`pod/demo 0:8080`). */
export const POD_PORT = 8080;

/** A running fake cluster. */
export interface ClusterProcess {
  readonly url: string;
  /** A kubeconfig file for it (kubemux and client-node read it; kubectl gets its own from the helper). */
  readonly kubeconfigPath: string;
  readonly child: Child;
  /** POST /kubemux/faults/ACTION; rejects unless the cluster answers 200. */
  fault(action: string, query?: string): Promise<void>;
  /** GET /kubemux/stats. */
  stats(): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

function httpCall(url: string, method: 'GET' | 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${url}: no answer within 10 s`)));
    req.end();
  });
}

/** Starts `kubemux fake-cluster` with pod `demo` forwarding port 8080 to 127.0.0.1:`targetPort`. */
export async function startCluster(targetPort: number): Promise<ClusterProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'kubemux-bench-cluster-'));
  const config: ClusterConfig = {
    namespaces: {
      default: {
        pods: [
          {
            name: 'demo',
            labels: { app: 'demo' },
            containers: [{ name: 'app', ports: [{ containerPort: POD_PORT, name: 'http' }] }],
            portMap: { [String(POD_PORT)]: `127.0.0.1:${targetPort}` },
          },
        ],
      },
    },
  };
  const configPath = join(dir, 'cluster.json');
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(configPath, JSON.stringify(config));
  const profileDir = process.env['KUBEMUX_BENCH_CPU_PROF'];
  const profile = profileDir === undefined || profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=fake-cluster.cpuprofile'];
  // No SPDY windows, as a kubelet: kubectl ignores windows, kubemux would honour them (and wait
  // for WINDOW_UPDATE round trips) only because this server announced them.
  const child = startChild(process.execPath, [...profile, KUBEMUX_BIN, 'fake-cluster', '--config', configPath, '--kubeconfig-out', kubeconfigPath, '--flow-control', 'auto']);
  try {
    const line = await child.line(/^fake cluster listening on /, 20_000);
    await child.line(/^kubeconfig written to /, 20_000);
    const url = line.replace(/^fake cluster listening on /, '').trim();
    return {
      url,
      kubeconfigPath,
      child,
      async fault(action, query = '') {
        const reply = await httpCall(`${url}/kubemux/faults/${action}${query === '' ? '' : `?${query}`}`, 'POST');
        if (reply.status !== 200) throw new Error(`fault ${action}: HTTP ${reply.status} ${reply.body}`);
      },
      async stats() {
        const reply = await httpCall(`${url}/kubemux/stats`, 'GET');
        return JSON.parse(reply.body) as Record<string, unknown>;
      },
      async stop() {
        await child.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
