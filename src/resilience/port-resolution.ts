/**
 * From the REMOTE part of a port spec (`8080`, `http`) to the pod port a connection goes to,
 * with kubectl port-forward's rules and messages, for the pod just chosen: a pod replaced by one
 * with another port layout is read afresh on every resolution.
 *
 * For a pod (`pod/x`, `x`) or a deployment's pod: a number is the pod port itself, declared or
 * not; a name is looked up among the containers' ports, then the init containers' (kubectl's
 * LookupContainerPortNumberByName).
 *
 * For a service: REMOTE is a service port, by number or by the service port's name, and the
 * connection goes to its targetPort: a number, a container port name looked up in the chosen
 * pod, or (absent) the port itself; a headless service (`clusterIP: None`) ignores targetPort
 * (kubectl's LookupContainerPortNumberByServicePort).
 *
 * Both refuse a port that is UDP only: port-forwarding carries TCP. kubectl checks the pod's
 * containers for a pod, and the service's ports for a service; so does kubemux.
 *
 * Failures are KubemuxErrors: a port that does not exist is ERR_TARGET_NOT_FOUND with scope
 * `stream` (this port cannot be forwarded; the connection to the pod and its other ports are
 * fine, and a later pod may have it); a malformed port or a UDP one is ERR_INVALID_ARGUMENT
 * (usage). Messages are kubectl's, so that users find them when they search.
 */
import { ErrorCode, KubemuxError } from '../errors.js';
import { usageError } from '../util/validate.js';
import type { PodPort, PodSummary, ServiceSummary } from './api-objects.js';

/** Maps a REMOTE port (a number, a decimal string, or a port name) to the pod port to connect to. */
export type PortResolver = (remote: number | string) => number;

/** The port a forward to `pod` (or a deployment's pod) reaches for `remote`. */
export function podPortResolver(pod: PodSummary): PortResolver {
  const udpOnly = udpOnlyPorts(pod.containerPorts.map((p) => ({ port: p.containerPort, protocol: p.protocol })));
  return (remote) => {
    const spec = parseRemote(remote);
    const port = typeof spec === 'number' ? spec : containerPortByName(pod, spec);
    if (udpOnly.has(port)) throw udpError(remote);
    return port;
  };
}

/** The pod port a forward to `service`, served by `pod`, reaches for the service port `remote`. */
export function servicePortResolver(service: ServiceSummary, pod: PodSummary): PortResolver {
  const udpOnly = udpOnlyPorts(service.ports.map((p) => ({ port: p.port, protocol: p.protocol })));
  return (remote) => {
    const spec = parseRemote(remote);
    let port: number;
    if (typeof spec === 'number') {
      port = spec;
    } else {
      const named = service.ports.find((p) => p.name === spec);
      if (named === undefined) throw notFound(`Service '${service.name}' does not have a named port '${spec}'`);
      port = named.port;
    }
    if (udpOnly.has(port)) throw udpError(remote);
    const servicePort = service.ports.find((p) => p.port === port);
    if (servicePort === undefined) throw notFound(`Service ${service.name} does not have a service port ${port}`);
    if (service.clusterIP === 'None') return port;
    const target = servicePort.targetPort;
    if (target === undefined) return servicePort.port;
    if (typeof target === 'number') return target;
    return containerPortByName(pod, target);
  };
}

/**
 * A REMOTE port as given: a number (1..65535) or a name. A string of digits is a number, as
 * kubectl's `strconv.Atoi` reads it.
 */
function parseRemote(remote: number | string): number | string {
  if (typeof remote === 'string') {
    if (remote === '') throw usageError('remote port cannot be empty');
    if (!/^\d+$/.test(remote)) return remote;
  } else if (typeof remote !== 'number') {
    throw usageError(`a remote port is a number or a port name, got ${typeof remote}`);
  }
  const port = Number(remote);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw usageError(`remote port ${String(remote)} is outside 1..65535`);
  if (port === 0) throw usageError('remote port must be > 0');
  return port;
}

/** kubectl's LookupContainerPortNumberByName: containers first, then init containers. */
function containerPortByName(pod: PodSummary, name: string): number {
  const match = (ports: readonly PodPort[]): PodPort | undefined => ports.find((p) => p.name === name);
  const port = match(pod.containerPorts) ?? match(pod.initContainerPorts);
  if (port === undefined) throw notFound(`Pod '${pod.name}' does not have a named port '${name}'`);
  return port.containerPort;
}

/** Port numbers declared for UDP and not also for TCP. */
function udpOnlyPorts(ports: readonly { port: number; protocol: string }[]): Set<number> {
  const tcp = new Set(ports.filter((p) => p.protocol === 'TCP').map((p) => p.port));
  return new Set(ports.filter((p) => p.protocol === 'UDP' && !tcp.has(p.port)).map((p) => p.port));
}

function udpError(remote: number | string): KubemuxError {
  return usageError(`UDP protocol is not supported for ${String(remote)}`);
}

function notFound(message: string): KubemuxError {
  return new KubemuxError(ErrorCode.TARGET_NOT_FOUND, 'stream', message);
}

