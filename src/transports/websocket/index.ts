export {
  WebSocketAcceptor,
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_PROTOBUF,
  type ConnectionSink,
  type WebSocketAcceptorOptions,
} from './acceptor.js';
export { WebSocketTransport } from './transport.js';
