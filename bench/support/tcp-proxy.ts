/**
 * A naive Node TCP proxy, the reference point for "a forwarder written in Node": `pipe()` both
 * ways, no framing, no protocol. `node tcp-proxy.js TARGET_PORT`; prints
 * `Forwarding from 127.0.0.1:PORT -> TARGET_PORT` once listening.
 */
import net from 'node:net';

const targetPort = Number(process.argv[2]);
if (!Number.isInteger(targetPort) || targetPort < 1) {
  process.stderr.write('usage: tcp-proxy.js TARGET_PORT\n');
  process.exit(2);
}
const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (local) => {
  const remote = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true, noDelay: true });
  const fail = (): void => {
    local.destroy();
    remote.destroy();
  };
  local.on('error', fail);
  remote.on('error', fail);
  local.pipe(remote);
  remote.pipe(local);
});
server.listen({ host: '127.0.0.1', port: 0, backlog: 511 }, () => {
  process.stdout.write(`Forwarding from 127.0.0.1:${(server.address() as net.AddressInfo).port} -> ${targetPort}\n`);
});
process.on('SIGINT', () => process.exit(0));
