/** The forwarder: local TCP listeners whose connections each get their own port-forward pair. */
export { PortForwarder, forward } from './port-forwarder.js';
export {
  FORWARDER_DEFAULTS,
  type PortForwarderOptions,
  type ForwarderCommonOptions,
  type OpenerForwarderOptions,
  type TargetForwarderOptions,
  type CloseForwarderOptions,
  type ResolvePort,
} from './options.js';
export type { ForwardTargetOptions } from './target-opener.js';
export { parsePortSpec, isPortName, type PortSpec, type ParsedPortSpec } from './port-spec.js';
export { DEFAULT_LISTEN_ADDRESSES, parseListenAddresses, type ListenAddress } from './listen-address.js';
export type {
  PortForwarderEvents,
  PortForwarderStats,
  ForwarderReady,
  ListenerInfo,
  SkippedListener,
  ConnectionOpenedInfo,
  ConnectionClosedInfo,
  ConnectionFailedInfo,
  ConnectionCloseReason,
  AcceptErrorInfo,
} from './events.js';
