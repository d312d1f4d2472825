import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../../core/logger.js';
import { noopLogger } from '../../core/logger.js';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import type { Codec } from '../../protocol/codec.js';
import type { ProtocolType } from '../../protocol/types.js';
import { deflateSettings, type DeflateSettings } from './frames.js';
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
  private readonly wss: WebSocketServer;
  private readonly logger: Logger;
  /** Open sockets and their transports (what the shared socket listeners below look up). */
  private readonly sockets = new Map<WebSocket, WebSocketTransport>();
  /**
   * Socket listeners, one set per acceptor rather than closures per connection (each closure and
   * its context cost every idle connection about a hundred bytes). ws calls them with the
   * socket as `this`.
   */
  private readonly onSocketMessage: (this: WebSocket, data: RawData) => void;
  private readonly onSocketClose: (this: WebSocket) => void;
  private readonly onSocketError: (this: WebSocket, err: Error) => void;
  /** Transports whose last write is still queued in user space. */
  private readonly pendingWrites = new Set<WebSocketTransport>();
  private writeTicker: NodeJS.Timeout | undefined;
  private readonly nativePings = new Map<WebSocket, NativePing>();
  private pingTicker: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly deflate: DeflateSettings | undefined;
  /** Largest incoming message after decompression; 0 = ws's own limit (`maxPayload`). */
  private readonly decompressedLimit: number;

  constructor(private readonly options: WebSocketAcceptorOptions) {
    this.logger = options.logger ?? noopLogger;
    const sockets = this.sockets;
    // binaryType is 'nodebuffer': data is one Buffer holding the whole (reassembled) message.
    this.onSocketMessage = function (this: WebSocket, data: RawData): void {
      sockets.get(this)?.sink?.handleData(data as Buffer);
    };
    const closed = (ws: WebSocket): void => this.socketClosed(ws);
    this.onSocketClose = function (this: WebSocket): void {
      closed(this);
    };
    const logger = this.logger;
    this.onSocketError = function (err: Error): void {
      logger.debug({ err: err.message }, 'websocket error');
    };
    const c = options.compression;
    this.deflate = c ? deflateSettings(c.level, c.minSize) : undefined;
    this.decompressedLimit = !c
      ? 0
      : (c.decompressedMessageSizeLimit ?? 0) > 0
        ? (c.decompressedMessageSizeLimit as number)
        : options.messageSizeLimit * DECOMPRESSED_LIMIT_FACTOR;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Frames are decoded by the codec whatever their type; invalid JSON fails there anyway.
      skipUTF8Validation: true,
      ...(options.messageSizeLimit > 0 ? { maxPayload: options.messageSizeLimit } : {}),
      // ws only negotiates the extension and decompresses incoming messages: outgoing frames are
      // compressed by the transport (once per broadcast), never by ws.
      perMessageDeflate: options.compression
        ? { serverNoContextTakeover: true, clientNoContextTakeover: true }
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
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req, socket));
  }

  private accept(ws: WebSocket, req: IncomingMessage, socket: Duplex): void {
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
      socket,
      protocol,
      !nativePing,
      this.options.writeTimeout > 0 ? this : undefined,
      this.deflate !== undefined ? socketDeflate(ws, this.deflate, this.decompressedLimit) : undefined,
    );
    this.sockets.set(ws, transport);
    try {
      transport.sink = this.options.onConnection(transport, connectionMeta(req));
    } catch (err) {
      this.logger.error({ err }, 'error accepting websocket connection');
      this.sockets.delete(ws);
      ws.terminate();
      return;
    }
    ws.on('message', this.onSocketMessage);
    // ws emits 'close' once per socket.
    ws.on('close', this.onSocketClose);
    ws.on('error', this.onSocketError);
    if (nativePing) this.watchNativePing(ws, transport);
  }

  private socketClosed(ws: WebSocket): void {
    const transport = this.sockets.get(ws);
    if (transport === undefined) return;
    transport.markClosed();
    this.sockets.delete(ws);
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
    for (const ws of this.sockets.keys()) ws.terminate();
    this.sockets.clear();
    this.wss.close();
  }
}

/** Centrifugo's default: decompressed messages may be 10 x `message_size_limit`. */
export const DECOMPRESSED_LIMIT_FACTOR = 10;

/**
 * The frame compression of one accepted socket (bidirectional and unidirectional WebSocket):
 * `deflate` when the client negotiated permessage-deflate, else undefined. Frames are compressed
 * with a 15-bit window, so a client that limited the server window below that
 * (`server_max_window_bits`) gets uncompressed frames, which the extension always allows.
 *
 * On a socket that negotiated it, incoming messages are inflated synchronously and limited to
 * `decompressedLimit` bytes after decompression (0: ws's own limit). ws checks one limit per
 * socket, against the wire size and the decompressed size alike, so there that limit is the
 * decompressed one (Centrifugo's bound on memory per message), for compressed and uncompressed
 * frames.
 */
export function socketDeflate(
  ws: WebSocket,
  deflate: DeflateSettings,
  decompressedLimit: number,
): DeflateSettings | undefined {
  const ext = negotiatedDeflate(ws);
  if (ext === undefined) return undefined;
  if (decompressedLimit > 0) setIncomingLimit(ws, ext, decompressedLimit);
  inflateMessagesSynchronously(ext);
  const bits = ext.params?.server_max_window_bits;
  if (typeof bits === 'number' && bits < 15) return undefined;
  return deflate;
}

/** What the acceptor reads and sets of ws's per-socket permessage-deflate state (ws 8 internals). */
interface DeflateExtension {
  params?: { server_max_window_bits?: number | boolean; client_no_context_takeover?: boolean };
  /** Largest decompressed incoming message (ws closes with 1009 past it). */
  _maxPayload: number;
  decompress(data: Buffer, fin: boolean, cb: (err: Error | null, buf?: Buffer) => void): void;
}

/**
 * Replaces ws's decompression of a socket's incoming messages with a synchronous inflate per
 * message. With client_no_context_takeover a message carries no state to the next, and ws would
 * otherwise keep a zlib stream (about 40 KB) for the life of every socket whose client compresses
 * its messages, as browsers do (pongs included), and go through zlib's thread pool for each one
 * (~100 µs of CPU for a 2-byte pong against ~25 µs here; a tiny message seen before costs a map
 * lookup). The result is handed back on the next tick, as ws's receiver expects; its own size
 * check then applies to the inflated message.
 */
function inflateMessagesSynchronously(ext: DeflateExtension): void {
  if (ext.params?.client_no_context_takeover !== true || typeof ext.decompress !== 'function') return;
  let parts: Buffer[] = [];
  ext.decompress = (data, fin, cb) => {
    parts.push(data);
    if (!fin) {
      process.nextTick(cb, null, EMPTY);
      return;
    }
    const message = parts.length === 1 ? data : Buffer.concat(parts);
    parts = [];
    // Pongs and other tiny messages compress to the same few bytes every time: inflate once.
    const key = message.length <= TINY ? message.toString('latin1') : undefined;
    const hit = key !== undefined ? tinyInflated.get(key) : undefined;
    if (hit !== undefined) {
      process.nextTick(cb, null, Buffer.from(hit));
      return;
    }
    const limit = ext._maxPayload;
    let out: Buffer;
    try {
      out = inflateRawSync(Buffer.concat([message, SYNC_TAIL]), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        ...(limit > 0 ? { maxOutputLength: limit + 1 } : {}),
      });
    } catch (err) {
      if ((err as { code?: string }).code !== 'ERR_BUFFER_TOO_LARGE') {
        process.nextTick(cb, err);
        return;
      }
      // Past the limit: stop inflating, and let ws's receiver see an oversized message (1009).
      out = Buffer.allocUnsafe(limit + 1);
    }
    if (key !== undefined && out.length <= TINY_OUT) {
      if (tinyInflated.size >= TINY_ENTRIES) tinyInflated.clear();
      tinyInflated.set(key, Buffer.from(out));
    }
    process.nextTick(cb, null, out);
  };
}

/** Compressed messages up to this size are looked up in `tinyInflated` first. */
const TINY = 24;
/** ... and cached when they inflate to at most this many bytes. */
const TINY_OUT = 64;
const TINY_ENTRIES = 256;
/** Inflated tiny messages by their compressed bytes (latin1), shared by all sockets. */
const tinyInflated = new Map<string, Buffer>();
const EMPTY = Buffer.alloc(0);
/** What RFC 7692 has the receiver append to a message before inflating it. */
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Sets the largest incoming message of one socket (ws 8 internals: receiver and inflater). */
function setIncomingLimit(ws: WebSocket, ext: DeflateExtension, limit: number): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload: number } })._receiver;
  if (receiver === undefined || typeof receiver._maxPayload !== 'number') return;
  receiver._maxPayload = limit;
  ext._maxPayload = limit;
}

/** ws's negotiated permessage-deflate of a socket, if any. */
function negotiatedDeflate(ws: WebSocket): DeflateExtension | undefined {
  const extensions = (ws as unknown as { _extensions?: Record<string, DeflateExtension | undefined> })
    ._extensions;
  return extensions?.['permessage-deflate'];
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
