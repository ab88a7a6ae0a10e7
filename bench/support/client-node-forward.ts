/**
 * @kubernetes/client-node's PortForward used the documented way (its examples/port-forward.js): a
 * `net` server, and one `portForward()` call per accepted socket, which opens one WebSocket (v4
 * channels) per local connection. Run as its own child process so that its CPU and memory are
 * measured alone: `node client-node-forward.js KUBECONFIG POD PORT`; prints
 * `Forwarding from 127.0.0.1:PORT -> REMOTE` once listening.
 */
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import net from 'node:net';

const [kubeconfigPath, pod, remote] = process.argv.slice(2);
if (kubeconfigPath === undefined || pod === undefined || remote === undefined) {
  process.stderr.write('usage: client-node-forward.js KUBECONFIG POD PORT\n');
  process.exit(2);
}
const loaded = new KubeConfig();
loaded.loadFromFile(kubeconfigPath);
// client-node 1.x refuses plain http:// unless skipTLSVerify is set (a guard against sending a
// token in clear); the bench's cluster is plain HTTP on loopback, as it is for every contender.
const kc = new KubeConfig();
kc.loadFromOptions({
  clusters: loaded.clusters.map((cluster) => (cluster.server.startsWith('http://') ? { ...cluster, skipTLSVerify: true } : cluster)),
  users: loaded.users,
  contexts: loaded.contexts,
  currentContext: loaded.currentContext,
});
const forward = new PortForward(kc);
const remotePort = Number(remote);
// As documented; the promise is not awaited there either, so a refused upgrade is what the
// library makes of it.
const server = net.createServer((socket) => {
  void forward.portForward('default', pod, [remotePort], socket, null, socket);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`Forwarding from 127.0.0.1:${(server.address() as net.AddressInfo).port} -> ${remotePort}\n`);
});
process.on('SIGINT', () => process.exit(0));
