/**
 * kubemux: the public API. Low-level frame codecs are in `kubemux/codec`; the test server and
 * fake cluster in `kubemux/testing`.
 */
export { KubemuxError, ErrorCode, isKubemuxError, abortError, type ErrorScope, type ErrorOrigin, type KubemuxErrorDetails } from './errors.js';
export {
  SpdySession,
  SpdyStream,
  SESSION_DEFAULTS,
  type SpdySessionOptions,
  type SpdySessionEvents,
  type SessionStats,
  type OpenStreamOptions,
  type PingOptions,
  type DrainInfo,
  type DrainReason,
  type SessionRole,
  type FlowControlMode,
  type StreamInitiator,
} from './session/index.js';
export { dialSpdy, checkSpdyUpgradeResponse, type SpdyDialOptions } from './transport/spdy/upgrade.js';
export { PORT_FORWARD_PROTOCOL } from './channel/index.js';
export { portForwardPath, type UpgradeTarget } from './transport/api/request-target.js';
export { fromKubeConfig, type FromKubeConfigOptions, type KubeConnection, type KubeConfigLike } from './transport/api/kubeconfig.js';
export { apiGet, apiWatch, type ApiGetOptions, type ApiResponse, type ApiWatchOptions, type ApiWatchResult, type WatchEvent } from './transport/api/api-request.js';
export { proxyFromEnvironment, type ProxyEnvironment } from './transport/api/connect.js';
export { requestUrl, type ServerTarget } from './transport/api/request-target.js';
export {
  PORT_FORWARD_PROTOCOLS,
  MAX_ERROR_TEXT_BYTES,
  type PortForwardConnection,
  type PortForwardConnectionEvents,
  type PortForwardConnectionStats,
  type PortForwardProtocol,
  type PortForwardDrainInfo,
  type PortForwardDrainReason,
  type PortStreams,
  type PortStreamOpener,
  type OpenPortStreamsOptions,
} from './transport/port-forward-connection.js';
export { SpdyPortForwardConnection, ERROR_STREAM_GRACE_MS } from './transport/spdy/port-forward.js';
export { dialWebSocketTunnel, type WebSocketTunnelOptions, type WebSocketTunnelDialOptions } from './transport/tunnel/dial.js';
export { WebSocketV4Connection, dialWebSocketV4, type WebSocketV4DialOptions } from './transport/v4/connection.js';
export { WEBSOCKET_V4_DEFAULTS, type WebSocketV4Options } from './transport/v4/options.js';
export {
  dialPortForward,
  dialProtocol,
  negotiatePortForward,
  isUpgradeFailure,
  PortForwardDialer,
  type PortForwardDialOptions,
  type DialPortForwardOptions,
  type PortForwardDialerDialOptions,
  type PortForwardProtocolChoice,
  type NegotiatedConnection,
} from './transport/dial.js';
export { parseTargetRef, formatTargetRef, type TargetRef, type TargetKind } from './resilience/target-ref.js';
export {
  TargetResolver,
  DEFAULT_POD_RUNNING_TIMEOUT_MS,
  type ClusterAccess,
  type TargetResolverOptions,
  type ResolveOptions,
  type ResolvedTarget,
  type PodWait,
} from './resilience/target-resolver.js';
export { ResilientConnection } from './resilience/resilient-connection.js';
export {
  RESILIENCE_DEFAULTS,
  type ResilientConnectionOptions,
  type TargetFunction,
  type TargetContext,
  type DialReason,
  type ConnectionDialer,
} from './resilience/options.js';
export type {
  ResilienceState,
  StateChange,
  Replacement,
  ReplacementCause,
  DialFailure,
  ResilientConnectionEvents,
  ResilientConnectionStats,
} from './resilience/events.js';
export { classifyFailure, type FailureKind } from './resilience/failure-kind.js';
export { systemClock, type Clock, type TimerHandle, type RandomSource } from './util/clock.js';
export {
  PortForwarder,
  forward,
  FORWARDER_DEFAULTS,
  DEFAULT_LISTEN_ADDRESSES,
  parseListenAddresses,
  type ListenAddress,
  parsePortSpec,
  isPortName,
  type PortForwarderOptions,
  type ForwarderCommonOptions,
  type OpenerForwarderOptions,
  type TargetForwarderOptions,
  type ForwardTargetOptions,
  type CloseForwarderOptions,
  type ResolvePort,
  type PortSpec,
  type ParsedPortSpec,
  type PortForwarderEvents,
  type PortForwarderStats,
  type ForwarderReady,
  type ListenerInfo,
  type SkippedListener,
  type ConnectionOpenedInfo,
  type ConnectionClosedInfo,
  type ConnectionFailedInfo,
  type ConnectionCloseReason,
  type AcceptErrorInfo,
} from './forwarder/index.js';
