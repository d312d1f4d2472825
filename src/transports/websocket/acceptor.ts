import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../core/logger.js';
import { noopLogger } from '../../core/logger.js';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import type { Codec } from '../../protocol/codec.js';
import type { ProtocolType } from '../../protocol/types.js';
import { WebSocketTransport, type WriteWatcher } from './transport.js';

/** What the acceptor feeds with a connection's incoming frames (a core `Client`). */
export interface ConnectionSink {
  handleData(data: Uint8Array): void;
  handleClose(): void;
}

export interface WebSocketAcceptorOptions {
  /** Largest incoming message in bytes; bigger ⇒ close 1009. 0 = ws default (100 MiB). */
  messageSizeLimit: number;
  /** A write not handed to the kernel within this many ms terminates the socket. 0 = no limit. */
  writeTimeout: number;
  /** permessage-deflate; off by default. */
  compression?: { level: number; minSize: number };
  /** Native ping period for `cf_ws_frame_ping_pong=true` connections (ms). */
  pingInterval: number;
  /** Time to answer a native ping (ms); 0 = not checked. */
  pongTimeout: number;
  codecFor(type: ProtocolType): Codec;
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
  private readonly wss: WebSocketServer;
  private readonly logger: Logger;
  private readonly sockets = new Set<WebSocket>();
  /** Transports whose last write is still queued in user space. */
  private readonly pendingWrites = new Set<WebSocketTransport>();
  private writeTicker: NodeJS.Timeout | undefined;
  private readonly nativePings = new Map<WebSocket, NativePing>();
  private pingTicker: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: WebSocketAcceptorOptions) {
    this.logger = options.logger ?? noopLogger;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Frames are decoded by the codec whatever their type; invalid JSON fails there anyway.
      skipUTF8Validation: true,
      ...(options.messageSizeLimit > 0 ? { maxPayload: options.messageSizeLimit } : {}),
      perMessageDeflate: options.compression
        ? {
            threshold: options.compression.minSize,
            zlibDeflateOptions: { level: options.compression.level },
          }
        : false,
      handleProtocols: (protocols) => {
        if (protocols.has(SUBPROTOCOL_PROTOBUF)) return SUBPROTOCOL_PROTOBUF;
        if (protocols.has(SUBPROTOCOL_JSON)) return SUBPROTOCOL_JSON;
        return false;
      },
    });
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
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const query = parseQuery(req.url);
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
      this.options.codecFor(protocol),
      this.options.writeTimeout > 0 ? this : undefined,
    );
    this.sockets.add(ws);
    let sink: ConnectionSink;
    try {
      sink = this.options.onConnection(transport, connectionMeta(req));
    } catch (err) {
      this.logger.error({ err }, 'error accepting websocket connection');
      this.sockets.delete(ws);
      ws.terminate();
      return;
    }
    ws.on('message', (data) => {
      // binaryType is 'nodebuffer': data is one Buffer holding the whole (reassembled) message.
      sink.handleData(data as Buffer);
    });
    ws.once('close', () => {
      transport.markClosed();
      this.sockets.delete(ws);
      this.pendingWrites.delete(transport);
      this.nativePings.delete(ws);
      sink.handleClose();
    });
    ws.on('error', (err) => {
      this.logger.debug({ err: err.message }, 'websocket error');
    });
    if (nativePing) this.watchNativePing(ws, transport);
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

  private watchNativePing(ws: WebSocket, transport: WebSocketTransport): void {
    const entry: NativePing = { transport, lastPingAt: Date.now(), awaitingSince: 0 };
    this.nativePings.set(ws, entry);
    ws.on('pong', () => {
      entry.awaitingSince = 0;
    });
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
    this.wss.close();
  }
}

function parseQuery(url: string | undefined): URLSearchParams {
  if (url === undefined) return new URLSearchParams();
  const q = url.indexOf('?');
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
}

/** Connection facts for the connecting handler: lower-cased headers, remote address, URL. */
export function connectionMeta(req: IncomingMessage): ConnectionMeta {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  const meta: ConnectionMeta = { headers };
  if (req.socket.remoteAddress !== undefined) meta.remoteAddress = req.socket.remoteAddress;
  if (req.url !== undefined) meta.url = req.url;
  return meta;
}
