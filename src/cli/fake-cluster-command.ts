/**
 * `kubemux fake-cluster`: runs the fake cluster until SIGINT/SIGTERM. The first line on stdout
 * is exactly `fake cluster listening on URL`, so scripts can wait for it and read the URL.
 */
import { parseArgs } from 'node:util';
import { isKubemuxError } from '../index.js';
import { FakeCluster, loadClusterConfig, parseHostPort, PortForwardEndpoint } from '../testing.js';

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

/** Runs the command; resolves to the exit code once the cluster has stopped. */
export async function fakeClusterCommand(argv: readonly string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        'kubeconfig-out': { type: 'string' },
        tls: { type: 'boolean', default: false },
        'allow-non-loopback': { type: 'boolean', default: false },
        'flow-control': { type: 'string', default: 'advertise' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`kubemux fake-cluster: ${(error as Error).message}\n\n${FAKE_CLUSTER_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(FAKE_CLUSTER_USAGE);
    return 0;
  }
  let listen: { host: string; port: number } | undefined;
  if (values.listen !== undefined) {
    listen = parseHostPort(values.listen, { allowPortZero: true });
    if (listen === undefined) {
      process.stderr.write(`kubemux fake-cluster: --listen must be HOST:PORT (e.g. 127.0.0.1:6443 or [::1]:0), got "${values.listen}"\n`);
      return 2;
    }
  }
  const flowControl = values['flow-control'];
  if (flowControl !== 'advertise' && flowControl !== 'auto') {
    process.stderr.write(`kubemux fake-cluster: --flow-control must be advertise or auto, got "${flowControl}"\n`);
    return 2;
  }
  let cluster: FakeCluster;
  try {
    const config = values.config === undefined ? undefined : await loadClusterConfig(values.config);
    cluster = await FakeCluster.start({
      ...(listen === undefined ? {} : { listen }),
      ...(config === undefined ? {} : { config }),
      tls: values.tls,
      allowNonLoopback: values['allow-non-loopback'],
      endpoint: new PortForwardEndpoint({ session: { flowControl } }),
    });
  } catch (error) {
    process.stderr.write(`kubemux fake-cluster: ${isKubemuxError(error) ? error.message : String(error)}\n`);
    return isKubemuxError(error) && error.scope === 'usage' ? 2 : 1;
  }
  process.stdout.write(`fake cluster listening on ${cluster.url}\n`);
  if (values['kubeconfig-out'] !== undefined) {
    await cluster.writeKubeconfig(values['kubeconfig-out']);
    process.stdout.write(`kubeconfig written to ${values['kubeconfig-out']}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await cluster.close();
  return 0;
}
