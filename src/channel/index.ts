/** The Kubernetes WebSocket codecs: subprotocol names and the v4 channel protocol. Pure, no I/O. */
export {
  SPDY_TUNNEL_SUBPROTOCOL,
  SPDY_TUNNEL_PREFIX,
  V4_CHANNEL_SUBPROTOCOL,
  V4_BASE64,
  PORT_FORWARD_PROTOCOL,
  isValidSubprotocol,
  parseSubprotocols,
  formatSubprotocols,
} from './subprotocols.js';
export {
  MAX_CHANNEL,
  MAX_PORTS,
  PORT_PREFIX_BYTES,
  type ChannelMessage,
  dataChannel,
  errorChannel,
  portIndexOf,
  isErrorChannel,
  encodeChannelMessage,
  decodeChannelMessage,
  encodePortPrefix,
  readPortPrefix,
  PortPrefixStripper,
} from './messages.js';
