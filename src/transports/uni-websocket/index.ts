import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Client } from '../../core/client.js';
import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { Transport } from '../../core/transport.js';
import { DisconnectCode, type Disconnect } from '../../protocol/codes.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { connectErrors, uniDisconnectFor, type UniDisconnectTransforms } from '../shared/connect-errors.js';
import { connectionMeta, queryOf, type OriginCheck, type RequestFacts } from '../shared/http.js';
import { decodeUniConnect } from '../shared/uni.js';
import { decompressedLimit, frameDeflate } from '../websocket/acceptor.js';
import {
  deflateSettings,
  writeFrame,
  writeMessageFrames,
  type DeflateSettings,
} from '../websocket/frames.js';
import {
  acceptWebSocket,
  acceptWebSocketOverH2,
  fitCloseReason,
  HandshakeError,
  rejectUpgrade,
  type H2Stream,
  type ServerWebSocket,
  type UpgradeOptions,
  type WebSocketHandlers,
} from '../websocket/server-socket.js';

/**
 * An HTTP `upgrade` handler, with `h2Connect` for an HTTP/2 extended CONNECT stream (RFC 8441)
 * and a `close()` that stops its ticker and drops open sockets.
 */
export interface UpgradeHandler {
  (req: IncomingMessage, socket: Duplex, head: Buffer): void;
  h2Connect(req: RequestFacts, stream: H2Stream): void;
  close(): void;
}

/** The settings of `uni_websocket.*` this transport applies. */
export interface UniWsSettings {
  joinPushMessages: boolean;
  disableDisconnectPush: boolean;
  disableClosingHandshake: boolean;
  disconnects: UniDisconnectTransforms;
  /** Unsent bytes tolerated before a too slow reader is dropped; 0 = no limit. */
  maxBuffered: number;
}

// A bare JSON disconnect push starts like this (the only field of such a Push).
const DISCONNECT_PREFIX = Buffer.from('{"disconnect"');

function isDisconnectPush(m: Uint8Array): boolean {
  if (m.length < DISCONNECT_PREFIX.length) return false;
  for (let i = 0; i < DISCONNECT_PREFIX.length; i++) if (m[i] !== DISCONNECT_PREFIX[i]) return false;
  return true;
}

/**
 * One unidirectional WebSocket connection as a core `Transport`. Data frames are built by the
 * bidirectional transport's `writeFrame` / `writeMessageFrames` (websocket/frames.ts) and written
 * straight to the TCP socket: a broadcast push (`sharedDerived`) has its frame built, and with
 * permessage-deflate compressed, once for all sockets, and every socket writes the same Buffer.
 * The `ServerWebSocket` writes the control frames (ping, close) to the same socket, synchronously,
 * so frames leave in the order they were produced.
 */
export class UniWebSocketTransport implements Transport {
  readonly name = 'uni_websocket';
  readonly protocol = 'json' as const;
  readonly unidirectional = true;
  readonly emulation = false;
  readonly protocolPing = true;
  clientId = '';
  lastPongAt = Date.now();
  lastPingAt = Date.now();
  private wrote = false;
  private closed = false;
  private remapped: Disconnect | undefined;
  /** The core client, once the node accepted the transport. */
  client: Client | undefined = undefined;
  /** Set until the connect request (the first message) has arrived. */
  awaitingConnect = true;

  constructor(
    readonly ws: ServerWebSocket,
    private readonly s: UniWsSettings,
    private readonly node: Node,
    /** Set when the client negotiated permessage-deflate and the frames may be compressed. */
    readonly deflate: DeflateSettings | undefined = undefined,
  ) {}

  /** The TCP socket (or HTTP/2 stream) `ws` runs on, where data frames are written. */
  private get socket(): Duplex {
    return this.ws.socket;
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.closed || !this.ws.isOpen) return;
    if (!this.wrote) {
      this.wrote = true;
      // The first flush of a failed connect holds only the disconnect push: apply the remap.
      const code = this.s.disconnects.enabled ? connectErrors.code(this.clientId) : 0;
      if (code !== 0) {
        this.remapped = uniDisconnectFor(code, this.s.disconnects);
        messages = [this.node.codecFor('json').encodePush({ disconnect: this.remapped })];
      }
    }
    if (this.s.disableDisconnectPush) {
      const last = messages[messages.length - 1];
      if (last !== undefined && isDisconnectPush(last)) messages = messages.slice(0, -1);
    }
    if (messages.length === 0) return;
    // Pushes are bare JSON Push messages: text frames, joined by `\n` in one frame if asked.
    if (this.s.joinPushMessages) writeFrame(this.socket, 'json', messages, this.deflate);
    else writeMessageFrames(this.socket, 'json', messages, this.deflate);
    if (this.s.maxBuffered > 0 && this.ws.bufferedAmount > this.s.maxBuffered) {
      // A reader this slow would make the buffer grow without bound: drop it (core sees a close).
      this.closed = true;
      this.ws.terminate();
    }
  }

  close(disconnect: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    const d = this.remapped ?? disconnect;
    if (this.s.disableClosingHandshake || d.code === DisconnectCode.connectionClosed) {
      // Plain TCP close after what is already written.
      this.socket.end();
      return;
    }
    this.ws.close(d.code, fitCloseReason(d.reason));
  }

  markClosed(): void {
    this.closed = true;
  }
}

/**
 * `GET /connection/uni_websocket` upgrade (`uni_websocket.handler_prefix`): unidirectional
 * WebSocket (§13). The JSON ConnectRequest is the `cf_connect` query parameter or else the first
 * text message (`null` ⇒ empty request; undecodable ⇒ close 3501); later messages are ignored.
 * Each push is one text frame, or pushes of one flush share a frame joined by `\n` with
 * `uni_websocket.join_push_messages`. Native pings go out every `client.ping_interval`; a socket
 * with no pong for ping interval + `client.pong_timeout` is dropped. Disconnects send a disconnect
 * push and a close frame unless `disable_disconnect_push` / `disable_closing_handshake`.
 * A disallowed Origin is refused with 403 before the upgrade. With `uni_websocket.compression`,
 * permessage-deflate is negotiated as on the bidirectional endpoint: no context takeover either
 * way, frames over `compression_min_size` (and at least 32 bytes) compressed once per broadcast at
 * `compression_level`, incoming messages limited to `decompressed_message_size_limit` (0: 10 x
 * `message_size_limit`) after decompression.
 */
export function createUniWebSocketHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): UpgradeHandler {
  const uw = config.uni_websocket;
  const settings: UniWsSettings = {
    joinPushMessages: uw.join_push_messages,
    disableDisconnectPush: uw.disable_disconnect_push,
    disableClosingHandshake: uw.disable_closing_handshake,
    disconnects: config.client.connect_code_to_unidirectional_disconnect,
    maxBuffered: config.client.queue_max_size,
  };
  const pingInterval = config.client.ping_interval;
  const pongDeadline = pingInterval + config.client.pong_timeout;
  const deflate = uw.compression ? deflateSettings(uw.compression_level, uw.compression_min_size) : undefined;
  const upgrade: UpgradeOptions = {
    deflate: deflate !== undefined,
    maxMessageSize: uw.message_size_limit,
    maxDecompressedSize: decompressedLimit(uw.message_size_limit, uw.decompressed_message_size_limit),
    validateUtf8: true,
  };
  const open = new Set<UniWebSocketTransport>();
  let ticker: NodeJS.Timeout | undefined;
  let stopped = false;

  // One ticker for all sockets: native pings and the pong deadline.
  const tick = (): void => {
    const now = Date.now();
    for (const t of open) {
      if (now - t.lastPongAt > pongDeadline) {
        logger.debug({ client: t.clientId }, 'uni_websocket: no pong, dropping');
        t.markClosed();
        t.ws.terminate();
        continue;
      }
      if (now - t.lastPingAt >= pingInterval) {
        t.lastPingAt = now;
        t.ws.ping();
      }
    }
  };

  const connect = (transport: UniWebSocketTransport, client: Client, data: Uint8Array): void => {
    const request = decodeUniConnect(node, data, logger, 'uni_websocket');
    if (request === undefined) client.disconnect({ code: DisconnectCode.badRequest, reason: 'bad request' });
    else void client.connectUnidirectional(request);
  };

  // One set of socket callbacks for every socket; later messages than the connect are ignored.
  const handlers: WebSocketHandlers = {
    message: (ws, data) => {
      const t = ws.user as UniWebSocketTransport;
      if (!t.awaitingConnect || t.client === undefined) return;
      t.awaitingConnect = false;
      connect(t, t.client, data);
    },
    pong: (ws) => {
      (ws.user as UniWebSocketTransport).lastPongAt = Date.now();
    },
    close: (ws) => {
      const t = ws.user as UniWebSocketTransport;
      t.markClosed();
      open.delete(t);
      if (t.client === undefined) return;
      if (settings.disconnects.enabled) connectErrors.unwatch(t.client.id);
      t.client.handleClose();
    },
    error: (_ws, err) => logger.debug({ err: err.message }, 'uni_websocket error'),
  };

  const accept = (ws: ServerWebSocket, req: RequestFacts, head: Buffer | undefined): void => {
    const transport = new UniWebSocketTransport(ws, settings, node, frameDeflate(ws, deflate));
    ws.user = transport;
    let client: Client;
    try {
      client = node.handleTransport(transport, connectionMeta(req));
    } catch (err) {
      logger.error({ err }, 'error accepting uni_websocket connection');
      ws.terminate();
      return;
    }
    transport.client = client;
    transport.clientId = client.id;
    if (settings.disconnects.enabled) {
      connectErrors.ensureTap(node);
      connectErrors.watch(client.id);
    }
    open.add(transport);
    if (pingInterval > 0 && ticker === undefined) {
      ticker = setInterval(tick, Math.max(10, Math.min(1000, Math.floor(pingInterval / 4))));
      ticker.unref();
    }
    const fromQuery = queryOf(req).get('cf_connect');
    if (fromQuery !== null) {
      transport.awaitingConnect = false;
      connect(transport, client, Buffer.from(fromQuery));
    }
    ws.start(head);
  };

  const handler = ((req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (stopped) {
      socket.destroy();
      return;
    }
    if (!checkOrigin(req)) {
      rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    const ws = acceptWebSocket(req, socket, upgrade, handlers);
    if (ws instanceof HandshakeError) {
      logger.debug({ status: ws.status, reason: ws.message }, 'uni_websocket handshake refused');
      return;
    }
    accept(ws, req, head);
  }) as UpgradeHandler;
  handler.h2Connect = (req: RequestFacts, stream: H2Stream): void => {
    if (stopped) {
      stream.destroy();
      return;
    }
    if (!checkOrigin(req)) {
      stream.respond({ ':status': 403 }, { endStream: true });
      return;
    }
    const ws = acceptWebSocketOverH2(req.headers, stream, upgrade, handlers);
    if (ws instanceof HandshakeError) {
      logger.debug({ status: ws.status, reason: ws.message }, 'uni_websocket handshake refused');
      return;
    }
    accept(ws, req, undefined);
  };
  handler.close = (): void => {
    stopped = true;
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
    for (const t of open) t.ws.terminate();
    open.clear();
  };
  return handler;
}
