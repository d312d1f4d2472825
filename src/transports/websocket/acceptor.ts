import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../core/logger.js';
import { noopLogger } from '../../core/logger.js';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import type { Codec } from '../../protocol/codec.js';
import type { ProtocolType } from '../../protocol/types.js';
import { connectionMeta, queryOf, type RequestFacts } from '../shared/http.js';
import { deflateSettings, type DeflateSettings } from './frames.js';
import {
  acceptWebSocket,
  acceptWebSocketOverH2,
  HandshakeError,
  type H2Stream,
  type ServerWebSocket,
  type UpgradeOptions,
  type WebSocketHandlers,
} from './server-socket.js';
import { WebSocketTransport, type WriteWatcher } from './transport.js';

/** What the acceptor feeds with a connection's incoming frames (a core `Client`). */
export interface ConnectionSink {
  handleData(data: Uint8Array): void;
  handleClose(): void;
}

export interface WebSocketAcceptorOptions {
  /** Largest incoming message in bytes; bigger ⇒ close 1009. 0 = 100 MiB. */
  messageSizeLimit: number;
  /** A write not handed to the kernel within this many ms terminates the socket. 0 = no limit. */
  writeTimeout: number;
  /**
   * permessage-deflate (off when absent), negotiated as Centrifugo does: no server context
   * takeover, client context takeover off too. Flushes of at most `minSize` payload bytes go
   * uncompressed (0: compress all). `decompressedMessageSizeLimit` bounds an incoming message after
   * decompression (close 1009 past it); 0 = 10 x `messageSizeLimit`.
   */
  compression?: { level: number; minSize: number; decompressedMessageSizeLimit?: number };
  /** Native ping period for `cf_ws_frame_ping_pong=true` connections (ms). */
  pingInterval: number;
  /** Time to answer a native ping (ms); 0 = not checked. */
  pongTimeout: number;
  /** Not used any more: frames are built by the transport (kept for existing callers). */
  codecFor?(type: ProtocolType): Codec;
  /** Called once per accepted socket; the returned sink gets the socket's frames and its close. */
  onConnection(transport: Transport, meta: ConnectionMeta): ConnectionSink;
  logger?: Logger;
}

export const SUBPROTOCOL_JSON = 'centrifuge-json';
export const SUBPROTOCOL_PROTOBUF = 'centrifuge-protobuf';

interface NativePing {
  transport: WebSocketTransport;
  lastPingAt: number;
  awaitingSince: number;
}

/**
 * Accepts WebSocket upgrades for the bidirectional client protocol and turns each socket into a
 * core `Transport`.
 *
 * Contract: the caller routes the HTTP `upgrade` event of the right path (and after its own checks,
 * e.g. Origin) to `handleUpgrade`. The wire format is Protobuf when the client offered subprotocol
 * `centrifuge-protobuf` or the URL has `cf_protocol=protobuf` / `format=protobuf`, JSON otherwise.
 * Timers are shared by all sockets (one write-timeout ticker, one native-ping ticker), never one
 * per socket. `close()` stops the tickers and terminates sockets still open.
 */
export class WebSocketAcceptor implements WriteWatcher {
  private readonly logger: Logger;
  /** Open sockets (each one's `user` is its transport). */
  private readonly sockets = new Set<ServerWebSocket>();
  /** One set of socket callbacks for every socket of this acceptor. */
  private readonly handlers: WebSocketHandlers;
  private readonly upgrade: UpgradeOptions;
  /** Transports whose last write is still queued in user space. */
  private readonly pendingWrites = new Set<WebSocketTransport>();
  private writeTicker: NodeJS.Timeout | undefined;
  private readonly nativePings = new Map<ServerWebSocket, NativePing>();
  private pingTicker: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly deflate: DeflateSettings | undefined;

  constructor(private readonly options: WebSocketAcceptorOptions) {
    this.logger = options.logger ?? noopLogger;
    const c = options.compression;
    this.deflate = c ? deflateSettings(c.level, c.minSize) : undefined;
    this.upgrade = {
      protocols: [SUBPROTOCOL_PROTOBUF, SUBPROTOCOL_JSON],
      deflate: c !== undefined,
      maxMessageSize: options.messageSizeLimit,
      maxDecompressedSize: decompressedLimit(options.messageSizeLimit, c?.decompressedMessageSizeLimit ?? 0),
      // Frames are decoded by the codec whatever their type; invalid JSON fails there anyway.
      validateUtf8: false,
    };
    const logger = this.logger;
    this.handlers = {
      message: (ws, data) => (ws.user as WebSocketTransport).sink?.handleData(data),
      pong: (ws) => {
        const entry = this.nativePings.get(ws);
        if (entry !== undefined) entry.awaitingSince = 0;
      },
      close: (ws) => this.socketClosed(ws),
      error: (_ws, err) => logger.debug({ err: err.message }, 'websocket error'),
    };
  }

  /** Number of open sockets. */
  get size(): number {
    return this.sockets.size;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const ws = acceptWebSocket(req, socket, this.upgrade, this.handlers);
    if (ws instanceof HandshakeError) {
      this.logger.debug({ status: ws.status, reason: ws.message }, 'websocket handshake refused');
      return;
    }
    this.accept(ws, req, head);
  }

  /**
   * An HTTP/2 extended CONNECT to the endpoint (RFC 8441, WebSocket over an HTTP/2 stream), after
   * the caller's checks: the same connection as an HTTP/1.1 upgrade, on the stream.
   */
  handleH2Connect(req: RequestFacts, stream: H2Stream): void {
    if (this.closed) {
      stream.destroy();
      return;
    }
    const ws = acceptWebSocketOverH2(req.headers, stream, this.upgrade, this.handlers);
    if (ws instanceof HandshakeError) {
      this.logger.debug({ status: ws.status, reason: ws.message }, 'websocket handshake refused');
      return;
    }
    this.logger.debug({ url: req.url }, 'websocket over an HTTP/2 stream');
    this.accept(ws, req, undefined);
  }

  private accept(ws: ServerWebSocket, req: RequestFacts, head: Buffer | undefined): void {
    const query = queryOf(req);
    const protocol: ProtocolType =
      ws.protocol === SUBPROTOCOL_PROTOBUF ||
      query.get('cf_protocol') === 'protobuf' ||
      query.get('format') === 'protobuf'
        ? 'protobuf'
        : 'json';
    const nativePing = query.get('cf_ws_frame_ping_pong') === 'true';
    const transport = new WebSocketTransport(
      ws,
      protocol,
      !nativePing,
      this.options.writeTimeout > 0 ? this : undefined,
      frameDeflate(ws, this.deflate),
    );
    ws.user = transport;
    this.sockets.add(ws);
    try {
      transport.sink = this.options.onConnection(transport, connectionMeta(req));
    } catch (err) {
      this.logger.error({ err }, 'error accepting websocket connection');
      this.sockets.delete(ws);
      ws.terminate();
      return;
    }
    if (nativePing) this.watchNativePing(ws, transport);
    ws.start(head);
  }

  private socketClosed(ws: ServerWebSocket): void {
    if (!this.sockets.delete(ws)) return;
    const transport = ws.user as WebSocketTransport;
    transport.markClosed();
    this.pendingWrites.delete(transport);
    this.nativePings.delete(ws);
    transport.sink?.handleClose();
  }

  /**
   * WriteWatcher: bytes are queued in user space. From this checkpoint on, the bytes queued now
   * must reach the kernel within `writeTimeout`, else the socket is terminated.
   */
  pending(transport: WebSocketTransport): void {
    this.checkpoint(transport, Date.now());
    this.pendingWrites.add(transport);
    if (this.writeTicker === undefined) {
      const period = Math.max(10, Math.min(250, Math.floor(this.options.writeTimeout / 4)));
      this.writeTicker = setInterval(() => this.checkWrites(), period);
      this.writeTicker.unref();
    }
  }

  private checkpoint(t: WebSocketTransport, now: number): void {
    t.pendingSince = now;
    t.pendingMark = t.ws.bufferedAmount;
    t.sentAtMark = t.sentBytes;
  }

  private checkWrites(): void {
    const now = Date.now();
    for (const t of this.pendingWrites) {
      const buffered = t.ws.bufferedAmount;
      if (buffered === 0) {
        t.pendingSince = 0;
        this.pendingWrites.delete(t);
        continue;
      }
      // Bytes flushed since the checkpoint; once they cover what was queued then, progress is
      // fine and a new checkpoint starts (a busy but draining socket is not stuck).
      const flushed = t.pendingMark + (t.sentBytes - t.sentAtMark) - buffered;
      if (flushed >= t.pendingMark) {
        this.checkpoint(t, now);
      } else if (now - t.pendingSince > this.options.writeTimeout) {
        this.logger.debug({}, 'websocket write timeout, terminating');
        t.pendingSince = 0;
        this.pendingWrites.delete(t);
        t.markClosed();
        t.ws.terminate();
      }
    }
    if (this.pendingWrites.size === 0 && this.writeTicker !== undefined) {
      clearInterval(this.writeTicker);
      this.writeTicker = undefined;
    }
  }

  private watchNativePing(ws: ServerWebSocket, transport: WebSocketTransport): void {
    this.nativePings.set(ws, { transport, lastPingAt: Date.now(), awaitingSince: 0 });
    if (this.pingTicker === undefined && this.options.pingInterval > 0) {
      const step = Math.max(
        10,
        Math.min(
          1000,
          Math.floor(Math.min(this.options.pingInterval, this.options.pongTimeout || Infinity) / 4),
        ),
      );
      this.pingTicker = setInterval(() => this.tickNativePings(), step);
      this.pingTicker.unref();
    }
  }

  private tickNativePings(): void {
    const now = Date.now();
    const { pingInterval, pongTimeout } = this.options;
    for (const [ws, e] of this.nativePings) {
      if (pongTimeout > 0 && e.awaitingSince > 0 && now - e.awaitingSince > pongTimeout) {
        this.nativePings.delete(ws);
        e.transport.close({ code: 3012, reason: 'no pong' });
        continue;
      }
      if (now - e.lastPingAt >= pingInterval) {
        e.lastPingAt = now;
        if (e.awaitingSince === 0) e.awaitingSince = now;
        ws.ping();
      }
    }
    if (this.nativePings.size === 0 && this.pingTicker !== undefined) {
      clearInterval(this.pingTicker);
      this.pingTicker = undefined;
    }
  }

  /** Stops accepting, stops the tickers and terminates sockets that are still open. */
  close(): void {
    this.closed = true;
    if (this.writeTicker !== undefined) clearInterval(this.writeTicker);
    if (this.pingTicker !== undefined) clearInterval(this.pingTicker);
    this.writeTicker = undefined;
    this.pingTicker = undefined;
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
  }
}

/** Centrifugo's default: decompressed messages may be 10 x `message_size_limit`. */
export const DECOMPRESSED_LIMIT_FACTOR = 10;

/** The limit on an incoming message after decompression: the key's value, or 10 x the wire limit. */
export function decompressedLimit(messageSizeLimit: number, configured: number): number {
  return configured > 0 ? configured : messageSizeLimit * DECOMPRESSED_LIMIT_FACTOR;
}

/**
 * The frame compression of one accepted socket (bidirectional and unidirectional WebSocket):
 * `deflate` when the client negotiated permessage-deflate, else undefined. Frames are compressed
 * with a 15-bit window, so a client that limited the server window below that
 * (`server_max_window_bits`) gets uncompressed frames, which the extension always allows.
 */
export function frameDeflate(
  ws: ServerWebSocket,
  deflate: DeflateSettings | undefined,
): DeflateSettings | undefined {
  if (deflate === undefined || ws.deflate === undefined) return undefined;
  return ws.deflate.serverMaxWindowBits < 15 ? undefined : deflate;
}
