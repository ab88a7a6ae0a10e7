/** WebSocket transport: our own RFC 6455 handshake, ws's frame codec, and the SPDY tunnel as a byte Duplex. */
export {
  WEBSOCKET_GUID,
  WEBSOCKET_VERSION,
  acceptKeyFor,
  generateKey,
  isValidKey,
  checkUpgradeRequest,
  selectSubprotocol,
  acceptResponse,
  refusalResponse,
  clientUpgrade,
  checkUpgradeResponse,
  type UpgradeRequestHead,
  type UpgradeRequestCheck,
  type AcceptableUpgrade,
  type RefusedUpgrade,
  type ClientUpgrade,
  type UpgradeResponseHead,
  type UpgradeResponseCheck,
} from './handshake.js';
export {
  WebSocketConnection,
  WEBSOCKET_CONNECTION_DEFAULTS,
  type WebSocketConnectionOptions,
  type WebSocketConnectionEvents,
  type WebSocketRole,
  type WebSocketState,
  type ClientMasking,
  type SendOptions,
  type SendCallback,
} from './connection.js';
export { WebSocketByteStream, type WebSocketByteStreamOptions } from './byte-stream.js';
export {
  acceptWebSocket,
  completeWebSocketUpgrade,
  type AcceptWebSocketOptions,
  type UpgradeConnectionOptions,
  type UpgradedWebSocket,
  type FailedUpgrade,
} from './upgrade.js';
