/**
 * `kubemux fake-cluster`: runs the fake cluster until SIGINT/SIGTERM, then exits 0. The first
 * line on stdout is exactly `fake cluster listening on URL`, so scripts can wait for it and read
 * the URL; with --kubeconfig-out, the next is `kubeconfig written to FILE`, once the file is
 * complete.
 *
 * Everything that can fail is checked before the cluster listens (the options, the config file,
 * that the kubeconfig file can be written), so a bad invocation prints one line and exits
 * without ever having served: exit 2 for a usage error, 1 for anything else (a port in use, a
 * kubeconfig path that cannot be written).
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { isKubemuxError } from '../index.js';
import { FakeCluster, loadClusterConfig, parseHostPort, PortForwardEndpoint } from '../testing.js';
import { errorLine, systemReason } from './error-line.js';
import type { CommandIo } from './process-io.js';
import { parseOptions, USAGE_EXIT_CODE, UsageError, usageMessage } from './usage.js';

/** The help text of `kubemux fake-cluster`. */
export const FAKE_CLUSTER_USAGE = `Usage: kubemux fake-cluster [options]

Serves enough of the Kubernetes API for kubectl and kubemux to port-forward, with a
kubelet-compatible port-forward endpoint and fault injection, until SIGINT or SIGTERM.

Options:
  --config FILE           cluster objects as JSON (default: pod, deployment and service "demo")
  --listen HOST:PORT      where to listen (default 127.0.0.1:0, a free port)
  --kubeconfig-out FILE   write a kubeconfig for this cluster (kubectl and kubemux accept it)
  --tls                   serve HTTPS with a CA made at start-up (embedded in the kubeconfig)
  --allow-non-loopback    permit a listen address other than loopback (it accepts any token)
  --idle-timeout-ms MS    close port-forward connections idle for MS milliseconds, as the
                          kubelet does (default 14400000, 4 h; 0 never)
  --flow-control MODE     SPDY flow control of the port-forward endpoint: advertise (default:
                          announce receive windows, so clients that implement SPDY/3.1 windows
                          use them) or auto (announce none, as a kubelet does: Go's spdystream
                          has no flow control; windows only if the client starts them)
  -h, --help              show this help

Faults (loopback clients only), POST /kubemux/faults/ACTION:
  drop                    close every upgraded connection now
  blackhole               upgraded connections stop moving bytes and answering pings, until clear
  stall                   new SPDY streams get no reply; new v4 WebSockets get no port prefix
  refuse?status=503       refuse new upgrades with that status (&keepalive=true: answer as Go's
                          net/http does and keep the connection open, as real API servers do)
  delay?ms=200            hold every byte of every upgraded connection for that long, each way
                          (a slow but healthy link: pings answered late, data flows)
  goaway                  send GOAWAY on every SPDY session
  replace-pod?name=demo   delete the pod and add a new one behind the same labels
  clear                   back to normal
Counters: GET /kubemux/stats.
`;

const COMMAND = 'kubemux fake-cluster';

/** The kubeconfig file, opened before the cluster listens so that a path that cannot be written fails first. */
class KubeconfigOut {
  readonly path: string;
  readonly #handle: FileHandle;
  readonly #created: boolean;

  private constructor(path: string, handle: FileHandle, created: boolean) {
    this.path = path;
    this.#handle = handle;
    this.#created = created;
  }

  /** Opens `path` for writing without changing it yet (append mode: created if absent, nothing truncated). */
  static async open(path: string): Promise<KubeconfigOut> {
    try {
      try {
        return new KubeconfigOut(path, await open(path, 'ax', 0o600), true);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        return new KubeconfigOut(path, await open(path, 'a', 0o600), false);
      }
    } catch (error) {
      throw new Error(`cannot write the kubeconfig to ${path}: ${systemReason(error) ?? errorLine(error)}`);
    }
  }

  /** Replaces the file's content with `text` and closes it. */
  async write(text: string): Promise<void> {
    await this.#handle.truncate(0);
    await this.#handle.writeFile(text);
    await this.#handle.close();
  }

  /** Closes the file without writing, and removes it if {@link open} created it. */
  async abandon(): Promise<void> {
    await this.#handle.close().catch(() => undefined);
    if (this.#created) await unlink(this.path).catch(() => undefined);
  }
}

/** Runs the command; resolves to the exit code once the cluster has stopped. */
export async function fakeClusterCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  let stopRequested = false;
  void io.stopped.then(() => (stopRequested = true));
  let kubeconfigOut: KubeconfigOut | undefined;
  let cluster: FakeCluster | undefined;
  try {
    const { values } = parseOptions({
      args: [...argv],
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        'kubeconfig-out': { type: 'string' },
        tls: { type: 'boolean', default: false },
        'allow-non-loopback': { type: 'boolean', default: false },
        'idle-timeout-ms': { type: 'string' },
        'flow-control': { type: 'string', default: 'advertise' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      io.stdout.write(FAKE_CLUSTER_USAGE);
      return 0;
    }
    let listen: { host: string; port: number } | undefined;
    if (values.listen !== undefined) {
      listen = parseHostPort(values.listen, { allowPortZero: true });
      if (listen === undefined) throw new UsageError(`--listen must be HOST:PORT (e.g. 127.0.0.1:6443 or [::1]:0), got "${values.listen}"`);
    }
    let idleTimeoutMs: number | undefined;
    if (values['idle-timeout-ms'] !== undefined) {
      idleTimeoutMs = /^[0-9]{1,10}$/.test(values['idle-timeout-ms']) ? Number(values['idle-timeout-ms']) : NaN;
      if (!(idleTimeoutMs <= 2 ** 31 - 1)) {
        throw new UsageError(`--idle-timeout-ms must be a whole number of milliseconds in 0..${2 ** 31 - 1}, got "${values['idle-timeout-ms']}"`);
      }
    }
    const flowControl = values['flow-control'];
    if (flowControl !== 'advertise' && flowControl !== 'auto') throw new UsageError(`--flow-control must be advertise or auto, got "${flowControl}"`);
    const config = values.config === undefined ? undefined : await loadClusterConfig(values.config);
    if (values['kubeconfig-out'] !== undefined) kubeconfigOut = await KubeconfigOut.open(values['kubeconfig-out']);
    cluster = await FakeCluster.start({
      ...(listen === undefined ? {} : { listen }),
      ...(config === undefined ? {} : { config }),
      tls: values.tls,
      allowNonLoopback: values['allow-non-loopback'],
      endpoint: new PortForwardEndpoint({ session: { flowControl }, ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }) }),
    });
    io.stdout.write(`fake cluster listening on ${cluster.url}\n`);
    if (kubeconfigOut !== undefined) {
      const out = kubeconfigOut;
      kubeconfigOut = undefined;
      await out.write(cluster.kubeconfig());
      io.stdout.write(`kubeconfig written to ${out.path}\n`);
    }
    await io.stopped;
    return 0;
  } catch (error) {
    // A stop asked for during start-up is a stop, whatever it interrupted.
    if (stopRequested) return 0;
    if (error instanceof UsageError || (isKubemuxError(error) && error.scope === 'usage')) {
      io.stderr.write(usageMessage(COMMAND, errorLine(error)));
      return USAGE_EXIT_CODE;
    }
    io.stderr.write(`${COMMAND}: ${errorLine(error)}\n`);
    return 1;
  } finally {
    await kubeconfigOut?.abandon();
    await cluster?.close();
  }
}
