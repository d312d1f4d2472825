import { constants as bufferConstants, isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';

/**
 * The server side of RFC 6455 (and the permessage-deflate negotiation of RFC 7692) for Gyre's
 * WebSocket endpoints: the opening handshake (an HTTP/1.1 upgrade, or an HTTP/2 extended CONNECT
 * as RFC 8441 has it), reading the frames a client sends, control frames and the closing
 * handshake. Data frames are built and written by frames.ts; this module writes
 * only the 101 response and control frames.
 *
 * Why not `ws`: an accepted `ws` socket carries a `WebSocket`, a `Receiver` (a Writable stream),
 * a `Sender` and their listeners, which is what made a connect cost about 50 µs more than Node's
 * upgrade path alone and a ping round trip about 8 µs more than a frame reader working straight
 * from the socket's `data` callback (`bench/micro/socket-floor.ts`). Gyre used `ws` only for the
 * handshake and for reading, and had to reach into its internals for per-socket limits and
 * synchronous inflation. One `ServerWebSocket` is a plain object with four shared listeners on
 * its socket.
 */

/** What a socket reports to its owner. One object per endpoint, shared by all its sockets. */
export interface WebSocketHandlers {
  /** A whole message (reassembled, inflated). Text and binary alike: the codec decides. */
  message(ws: ServerWebSocket, data: Buffer): void;
  /** A pong control frame arrived. */
  pong?(ws: ServerWebSocket): void;
  /** The TCP socket closed; called once per accepted socket. */
  close(ws: ServerWebSocket): void;
  /** A socket error or a protocol violation by the client (already answered with a close). */
  error?(ws: ServerWebSocket, err: Error): void;
}

/** What an endpoint accepts. */
export interface UpgradeOptions {
  /** Subprotocols the endpoint speaks, most preferred first (chosen among the client's offers). */
  protocols?: readonly string[];
  /** Accept permessage-deflate offers (no context takeover either way, as Centrifugo does). */
  deflate: boolean;
  /** Largest incoming message on the wire, in bytes; bigger ⇒ close 1009. 0 ⇒ 100 MiB. */
  maxMessageSize: number;
  /** Largest incoming message after decompression; bigger ⇒ close 1009. 0 ⇒ `maxMessageSize`. */
  maxDecompressedSize?: number;
  /** Close with 1007 on a text message that is not UTF-8 (off where the codec rejects it anyway). */
  validateUtf8?: boolean;
  /** How long a closing socket waits for the client to close the connection (ms); default 5 s. */
  closeTimeout?: number | undefined;
}

/** permessage-deflate as negotiated with one client. */
export interface NegotiatedDeflate {
  /** The window the client allowed the server (`server_max_window_bits`), 15 if it set none. */
  serverMaxWindowBits: number;
}

/** What a refused handshake answered, for the caller's log. */
export class HandshakeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;
const DEFAULT_MAX_MESSAGE = 100 * 1024 * 1024;
/**
 * How long a socket waits for the client's close frame (or its FIN) after ours, by default: the
 * 5 s Centrifugo's WebSocket transport waits for the closing handshake before closing the TCP
 * connection, so a client that never answers holds its socket no longer than there.
 */
export const CLOSE_TIMEOUT_MS = 5_000;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Largest close reason a close frame can carry (125 bytes minus the 2-byte code). */
const MAX_CLOSE_REASON = 123;

/** `reason` cut to what a close frame can carry, whole characters only. */
export function fitCloseReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > MAX_CLOSE_REASON) r = r.slice(0, -1);
  return r;
}

/** Close codes a peer may send (RFC 6455 section 7.4, and the 3000-4999 ranges). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

const enum State {
  Open = 0,
  /** Our close frame went out or the client's came in: no data either way any more. */
  Closing = 1,
  /** The client broke the protocol: what it sends from now on is discarded unread. */
  Failed = 2,
  Closed = 3,
}

const kWebSocket = Symbol('gyre websocket');
type TaggedSocket = Duplex & { [kWebSocket]?: ServerWebSocket };

function onData(this: TaggedSocket, chunk: Buffer): void {
  this[kWebSocket]?.receive(chunk);
}
function onEnd(this: TaggedSocket): void {
  this[kWebSocket]?.peerEnded();
}
function onClose(this: TaggedSocket): void {
  this[kWebSocket]?.socketClosed();
}
function onError(this: TaggedSocket, err: Error): void {
  this[kWebSocket]?.socketError(err);
}

/**
 * Shared reads. By default every read of a Node socket mallocs a 64 KiB buffer, shrinks it to
 * what was read, wraps it in an ArrayBuffer and a Buffer the garbage collector must later sweep,
 * and pushes it through the Readable stream machinery to the `data` event. For a connection that
 * mostly sends pongs and small commands that is a large part of each read (the idle scenario's
 * CPU per connection fell by about a third with this and the timer and pong changes of the same
 * pass, docs/performance.md). Node can instead read a socket into a buffer of the caller's and
 * hand it to a callback (net.Socket's `onread` option); that option exists only for sockets Node
 * creates for the caller, not for an accepted one, so its three private fields are found once on
 * a probe socket made with it, and set on an upgraded TCP socket here. Every plain TCP WebSocket then
 * reads into the one `readBuffer` (the event loop runs one read callback at a time), and
 * whatever must outlive the callback (a message handed to the owner, a partial frame, fragments)
 * is copied out of it first. Where Node lacks the fields (another major version changed them),
 * or the socket is TLS or an HTTP/2 stream, sockets read through `data` as before.
 */
interface OnReadKeys {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

function findOnReadKeys(): OnReadKeys | undefined {
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): boolean => true;
    // `onread` is in Node's documentation, but not in @types/node's constructor options.
    const probe = new Socket({ onread: { buffer, callback } } as ConstructorParameters<typeof Socket>[0]);
    const fields = probe as unknown as Record<symbol, unknown>;
    const keys = Object.getOwnPropertySymbols(probe);
    const find = (name: string): symbol | undefined => keys.find((k) => k.description === name);
    const found = { buffer: find('kBuffer'), callback: find('kBufferCb'), generator: find('kBufferGen') };
    probe.destroy();
    if (found.buffer === undefined || found.callback === undefined || found.generator === undefined)
      return undefined;
    if (fields[found.buffer] !== buffer || fields[found.callback] !== callback) return undefined;
    return { buffer: found.buffer, callback: found.callback, generator: found.generator };
  } catch {
    return undefined;
  }
}

const onReadKeys = findOnReadKeys();
const READ_BUFFER_SIZE = 64 * 1024;
let readBuffer: Buffer | undefined;

interface TcpHandle {
  useUserBuffer?(buf: Uint8Array): void;
}

function onSharedRead(this: TaggedSocket, n: number, buf: Buffer): boolean {
  this[kWebSocket]?.receiveShared(buf, n);
  return true;
}

/** Switches an upgraded plain TCP socket to shared reads; false where it cannot be. */
function readShared(socket: TaggedSocket): boolean {
  const keys = onReadKeys;
  if (keys === undefined || !(socket instanceof Socket) || socket instanceof TLSSocket) return false;
  const handle = (socket as unknown as { _handle?: TcpHandle | null })._handle;
  // Bytes already in the Readable's buffer would be read after newer ones: keep `data` then.
  if (typeof handle?.useUserBuffer !== 'function' || socket.readableLength > 0) return false;
  readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  const fields = socket as unknown as Record<symbol, unknown>;
  fields[keys.buffer] = readBuffer;
  fields[keys.callback] = onSharedRead;
  fields[keys.generator] = null;
  handle.useUserBuffer(readBuffer);
  return true;
}

/** True when `b` is a view of the shared read buffer (it must be copied to be kept). */
function isShared(b: Buffer): boolean {
  return readBuffer !== undefined && b.buffer === readBuffer.buffer;
}

/** Replaces each view of the shared read buffer in `bufs` by a copy. */
function copyShared(bufs: Buffer[]): void {
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i] as Buffer;
    if (isShared(b)) bufs[i] = Buffer.from(b);
  }
}

/**
 * Answers an HTTP upgrade request: on a valid WebSocket handshake writes the 101 response and
 * returns the socket, not yet reading (set `user`, then call `start`); otherwise answers with an
 * HTTP error, closes the socket and returns a `HandshakeError`.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  options: UpgradeOptions,
  handlers: WebSocketHandlers,
): ServerWebSocket | HandshakeError {
  const refused = checkRequest(req);
  if (refused !== undefined) {
    refuse(socket, refused);
    return refused;
  }
  if (!socket.readable || !socket.writable) {
    socket.destroy();
    return new HandshakeError(400, 'socket closed before the handshake');
  }
  const headers = req.headers;
  const accept = createHash('sha1')
    .update((headers['sec-websocket-key'] as string).trim() + GUID)
    .digest('base64');
  const n = negotiate(headers, options);
  let response =
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${accept}\r\n`;
  if (n.protocol !== '') response += `Sec-WebSocket-Protocol: ${n.protocol}\r\n`;
  if (n.extensions !== '') response += `Sec-WebSocket-Extensions: ${n.extensions}\r\n`;
  socket.write(response + '\r\n');
  const s = socket as Duplex & { setNoDelay?(v: boolean): void; setTimeout?(ms: number): void };
  s.setTimeout?.(0);
  s.setNoDelay?.(true);
  return new ServerWebSocket(socket, n.protocol, n.deflate, options, handlers);
}

/** An HTTP/2 stream as `acceptWebSocketOverH2` needs it (`ServerHttp2Stream`). */
export interface H2Stream extends Duplex {
  respond(headers: Record<string, string | number>, options?: { endStream?: boolean }): void;
  setTimeout(ms: number): void;
}

/**
 * Answers an HTTP/2 extended CONNECT (RFC 8441: `:method` CONNECT, `:protocol` websocket, which
 * the caller checked): responds 200 with the chosen subprotocol and extension and returns the
 * socket over the stream, not yet reading; on a request it cannot accept responds 400 (426 for
 * another WebSocket version), closes the stream and returns a `HandshakeError`.
 */
export function acceptWebSocketOverH2(
  headers: IncomingHttpHeaders,
  stream: H2Stream,
  options: UpgradeOptions,
  handlers: WebSocketHandlers,
): ServerWebSocket | HandshakeError {
  if (headers['sec-websocket-version'] !== '13') {
    const err = new HandshakeError(426, 'Unsupported Sec-WebSocket-Version (13 is)');
    stream.respond({ ':status': 426, 'sec-websocket-version': '13' }, { endStream: true });
    return err;
  }
  if (stream.destroyed || !stream.writable) {
    stream.destroy();
    return new HandshakeError(400, 'stream closed before the handshake');
  }
  const n = negotiate(headers, options);
  const response: Record<string, string | number> = { ':status': 200 };
  if (n.protocol !== '') response['sec-websocket-protocol'] = n.protocol;
  if (n.extensions !== '') response['sec-websocket-extensions'] = n.extensions;
  stream.respond(response);
  stream.setTimeout(0);
  return new ServerWebSocket(stream, n.protocol, n.deflate, options, handlers);
}

/** The subprotocol and permessage-deflate answer to a handshake's offers. */
function negotiate(
  headers: IncomingHttpHeaders,
  options: UpgradeOptions,
): { protocol: string; deflate: NegotiatedDeflate | undefined; extensions: string } {
  const protocol = chooseProtocol(headers['sec-websocket-protocol'], options.protocols);
  const offer = headers['sec-websocket-extensions'];
  const deflate = options.deflate && offer !== undefined ? negotiateDeflate(offer) : undefined;
  let extensions = '';
  if (deflate !== undefined) {
    extensions = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
    if (deflate.serverMaxWindowBits !== 15)
      extensions += `; server_max_window_bits=${deflate.serverMaxWindowBits}`;
  }
  return { protocol, deflate, extensions };
}

function checkRequest(req: IncomingMessage): HandshakeError | undefined {
  if (req.method !== 'GET') return new HandshakeError(405, 'WebSocket handshake needs GET');
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket')
    return new HandshakeError(400, 'Missing or invalid Upgrade header');
  const key = req.headers['sec-websocket-key']?.trim();
  if (key === undefined || !KEY.test(key))
    return new HandshakeError(400, 'Missing or invalid Sec-WebSocket-Key header');
  if (req.headers['sec-websocket-version'] !== '13')
    return new HandshakeError(426, 'Unsupported Sec-WebSocket-Version (13 is)');
  return undefined;
}

function refuse(socket: Duplex, err: HandshakeError): void {
  rejectUpgrade(socket, err.status, err.message, err.status === 426 ? 'Sec-WebSocket-Version: 13\r\n' : '');
}

/**
 * Answers an upgrade request that will not be upgraded with a plain-text HTTP/1.1 error
 * (`body` plus a newline; `headers` are extra `Name: value\r\n` lines), then closes the socket.
 */
export function rejectUpgrade(socket: Duplex, status: number, body: string, headers = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = body + '\n';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n${headers}` +
      `Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
  );
  socket.once('finish', () => socket.destroy());
}

/** The first of `supported` the client offered, '' if none (the handshake goes on without one). */
function chooseProtocol(header: string | undefined, supported: readonly string[] | undefined): string {
  if (header === undefined || supported === undefined || supported.length === 0) return '';
  const offered = new Set(header.split(',').map((p) => p.trim()));
  for (const p of supported) if (offered.has(p)) return p;
  return '';
}

/**
 * The first acceptable permessage-deflate offer of a `Sec-WebSocket-Extensions` header (RFC 7692
 * section 5), or undefined: an offer with unknown, repeated or out-of-range parameters is
 * declined, and the connection goes on uncompressed.
 */
export function negotiateDeflate(header: string): NegotiatedDeflate | undefined {
  for (const offer of header.split(',')) {
    const parts = offer.split(';').map((p) => p.trim());
    if (parts[0]?.toLowerCase() !== 'permessage-deflate') continue;
    const seen = new Set<string>();
    let serverBits = 15;
    let ok = true;
    for (const param of parts.slice(1)) {
      if (param === '') continue;
      const eq = param.indexOf('=');
      const name = (eq === -1 ? param : param.slice(0, eq)).trim().toLowerCase();
      const raw =
        eq === -1
          ? undefined
          : param
              .slice(eq + 1)
              .trim()
              .replace(/^"(.*)"$/, '$1');
      if (seen.has(name)) {
        ok = false;
        break;
      }
      seen.add(name);
      if (name === 'server_no_context_takeover' || name === 'client_no_context_takeover') {
        if (raw !== undefined) ok = false;
      } else if (name === 'server_max_window_bits') {
        const bits = raw === undefined ? NaN : windowBits(raw);
        if (Number.isNaN(bits)) ok = false;
        else serverBits = bits;
      } else if (name === 'client_max_window_bits') {
        if (raw !== undefined && Number.isNaN(windowBits(raw))) ok = false;
      } else {
        ok = false;
      }
      if (!ok) break;
    }
    if (ok) return { serverMaxWindowBits: serverBits };
  }
  return undefined;
}

function windowBits(raw: string): number {
  if (!/^\d{1,2}$/.test(raw)) return NaN;
  const n = Number(raw);
  return n >= 8 && n <= 15 ? n : NaN;
}

/** What RFC 7692 has the receiver append to a message before inflating it. */
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
/** Compressed messages up to this size are looked up in `tinyInflated` first (pongs). */
const TINY = 24;
/** ... and cached when they inflate to at most this many bytes. */
const TINY_OUT = 64;
const TINY_ENTRIES = 256;
/** Inflated tiny messages by their compressed bytes (latin1), shared by all sockets. */
const tinyInflated = new Map<string, Buffer>();

/** A close frame, unmasked as server frames are; no code at all when `code` is undefined. */
function closeFrame(code: number | undefined, reason: string): Buffer {
  if (code === undefined) return Buffer.from([0x88, 0]);
  const r = Buffer.from(reason);
  const out = Buffer.allocUnsafe(4 + r.length);
  out[0] = 0x88;
  out[1] = 2 + r.length;
  out.writeUInt16BE(code, 2);
  r.copy(out, 4);
  return out;
}

const PING = Buffer.from([0x89, 0x00]);

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * One accepted WebSocket connection.
 *
 * Contract:
 * - Messages reach `handlers.message` in order, synchronously from the socket's `data` callback,
 *   one at a time; after `pause()` no further message is handed over (even one already read)
 *   until `resume()`.
 * - A frame breaking RFC 6455 is answered with a close frame (1002; 1009 for a message over the
 *   size limit; 1007 for a bad compressed stream or, with `validateUtf8`, bad text), after which
 *   the socket's output is ended and its input discarded; `handlers.error` hears why.
 * - Client pings are answered with a pong carrying the same payload; a client close frame is
 *   echoed (code and reason) and the socket ended.
 * - `close(code, reason)` sends a close frame and waits up to `CLOSE_TIMEOUT_MS` for the client
 *   (`closeTimeout`) to end the connection; `terminate()` drops it now. `handlers.close` runs once, when the TCP
 *   socket has closed.
 */
export class ServerWebSocket {
  /** Whatever the owner attaches (its transport). */
  user: unknown = undefined;
  private state = State.Open;
  private paused = false;
  /** Bytes read but not yet parsed: `head` and one Buffer, or a list while a frame is incomplete. */
  private queued: Buffer[] | undefined = undefined;
  private queuedBytes = 0;
  /** A fragmented message being reassembled. */
  private fragments: Buffer[] | undefined = undefined;
  private fragmentBytes = 0;
  private fragmentCompressed = false;
  private fragmentText = false;
  private drainScheduled = false;
  private closeTimer: NodeJS.Timeout | undefined = undefined;
  private shared = false;
  private readonly maxMessage: number;
  private readonly maxInflated: number;

  constructor(
    readonly socket: Duplex,
    /** The chosen subprotocol, '' if none. */
    readonly protocol: string,
    /** Set when the client negotiated permessage-deflate. */
    readonly deflate: NegotiatedDeflate | undefined,
    private readonly options: UpgradeOptions,
    private readonly handlers: WebSocketHandlers,
  ) {
    this.maxMessage = options.maxMessageSize > 0 ? options.maxMessageSize : DEFAULT_MAX_MESSAGE;
    const inflated = options.maxDecompressedSize ?? 0;
    this.maxInflated = inflated > 0 ? inflated : this.maxMessage;
  }

  /** Starts reading: `head` (bytes that came with the upgrade request) first. */
  start(head: Buffer | undefined): void {
    const socket = this.socket as TaggedSocket;
    socket[kWebSocket] = this;
    this.shared = readShared(socket);
    if (!this.shared) socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    if (head !== undefined && head.length > 0) this.receive(head);
    if (!this.paused && socket.readableFlowing !== true) socket.resume();
  }

  /** Reads go into the shared read buffer (see `readShared`), not through `data` events. */
  get sharedReads(): boolean {
    return this.shared;
  }

  /** True while data frames may be sent (no close frame either way, socket not closed). */
  get isOpen(): boolean {
    return this.state === State.Open;
  }

  /** Bytes written to the socket but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.state !== State.Closed) this.socket.resume();
    // Frames read before the pause are parsed after the caller's current work, not inside it.
    if (this.queuedBytes > 0 && !this.drainScheduled) {
      this.drainScheduled = true;
      process.nextTick(() => {
        this.drainScheduled = false;
        this.drain();
      });
    }
  }

  /** Sends a ping control frame (empty payload). */
  ping(): void {
    if (this.state === State.Open) this.socket.write(PING);
  }

  /**
   * Starts the closing handshake with `code` and `reason` (at most 123 bytes); throws a
   * RangeError for a code a close frame may not carry. A no-op once closing.
   */
  close(code: number, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`invalid WebSocket close code ${code}`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON)
      throw new RangeError(`close reason longer than ${MAX_CLOSE_REASON} bytes`);
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    this.socket.write(closeFrame(code, reason));
    this.awaitEnd();
  }

  /** Drops the TCP connection now, without a closing handshake. */
  terminate(): void {
    if (this.state === State.Closed) return;
    if (this.state === State.Open) this.state = State.Closing;
    this.socket.destroy();
  }

  /** Socket `data`: queue the chunk and parse what is complete. */
  receive(chunk: Buffer): void {
    if (this.state >= State.Failed) return;
    if (this.queued === undefined) this.queued = [chunk];
    else this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    if (!this.paused) this.drain();
  }

  /**
   * A read into the shared buffer: the first `n` bytes of `buf`, valid only during this call. What
   * is kept past it (a message handed over, unparsed bytes, fragments) is copied.
   */
  receiveShared(buf: Buffer, n: number): void {
    try {
      this.receive(buf.subarray(0, n));
    } finally {
      if (this.queued !== undefined) copyShared(this.queued);
      if (this.fragments !== undefined) copyShared(this.fragments);
    }
  }

  /** Socket `end`: the client sent its FIN; finish our side too. */
  peerEnded(): void {
    if (this.state === State.Open) this.state = State.Closing;
    this.socket.end();
  }

  socketError(err: Error): void {
    this.handlers.error?.(this, err);
    this.socket.destroy();
  }

  socketClosed(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.queued = undefined;
    this.fragments = undefined;
    this.handlers.close(this);
  }

  /** Parses and dispatches whole frames until the bytes run out, a pause, or a close. */
  private drain(): void {
    try {
      while (!this.paused && this.state <= State.Closing && this.queuedBytes >= 2) {
        if (!this.nextFrame()) break;
      }
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.fail(err);
    }
  }

  /** Reads one frame if it is all here; false when more bytes are needed. */
  private nextFrame(): boolean {
    const queued = this.queued as Buffer[];
    let first = queued[0] as Buffer;
    if (first.length < 14 && queued.length > 1) first = this.merge();
    const b0 = first[0] as number;
    const b1 = first[1] as number;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    if ((b0 & 0x30) !== 0) throw new ProtocolError(1002, 'RSV2 and RSV3 must be clear');
    if ((b1 & 0x80) === 0) throw new ProtocolError(1002, 'client frames must be masked');
    const control = opcode >= 0x8;
    if (control) {
      if (opcode > OP_PONG) throw new ProtocolError(1002, `invalid opcode ${opcode}`);
      if (!fin) throw new ProtocolError(1002, 'fragmented control frame');
      if (rsv1) throw new ProtocolError(1002, 'RSV1 set on a control frame');
    } else if (opcode > OP_BINARY) {
      throw new ProtocolError(1002, `invalid opcode ${opcode}`);
    } else if (rsv1 && (this.deflate === undefined || opcode === OP_CONTINUATION)) {
      throw new ProtocolError(1002, 'RSV1 set without a compressed message starting');
    }
    let length = b1 & 0x7f;
    let header = 6;
    if (length === 126) {
      if (first.length < 4) return false;
      length = first.readUInt16BE(2);
      header = 8;
    } else if (length === 127) {
      if (first.length < 10) return false;
      const high = first.readUInt32BE(2);
      // Anything past 2^53 is as much over the limit as 2^32 is.
      length = high > 0 ? Number.MAX_SAFE_INTEGER : first.readUInt32BE(6);
      header = 14;
    }
    if (control && length > 125) throw new ProtocolError(1002, 'control frame over 125 bytes');
    if (!control && length + (opcode === OP_CONTINUATION ? this.fragmentBytes : 0) > this.maxMessage)
      throw new ProtocolError(1009, 'message too big');
    const total = header + length;
    if (this.queuedBytes < total) return false;
    if (first.length < total) first = this.merge();
    const payload = first.subarray(header, total);
    unmask(payload, first, header - 4);
    this.consume(total);
    this.frame(opcode, fin, rsv1, payload);
    return true;
  }

  /** Joins the queued chunks into one Buffer. */
  private merge(): Buffer {
    const joined = Buffer.concat(this.queued as Buffer[], this.queuedBytes);
    this.queued = [joined];
    return joined;
  }

  /** Drops `n` parsed bytes from the front of the queue (all in its first chunk). */
  private consume(n: number): void {
    const queued = this.queued as Buffer[];
    const first = queued[0] as Buffer;
    this.queuedBytes -= n;
    if (n === first.length) {
      if (queued.length === 1) this.queued = undefined;
      else queued.shift();
    } else {
      queued[0] = first.subarray(n);
    }
  }

  private frame(opcode: number, fin: boolean, rsv1: boolean, payload: Buffer): void {
    switch (opcode) {
      case OP_TEXT:
      case OP_BINARY:
        if (this.fragments !== undefined)
          throw new ProtocolError(1002, 'new message inside a fragmented one');
        if (fin) {
          this.message(opcode === OP_TEXT, rsv1, payload);
        } else {
          this.fragments = [payload];
          this.fragmentBytes = payload.length;
          this.fragmentCompressed = rsv1;
          this.fragmentText = opcode === OP_TEXT;
        }
        return;
      case OP_CONTINUATION: {
        const fragments = this.fragments;
        if (fragments === undefined) throw new ProtocolError(1002, 'continuation frame without a message');
        fragments.push(payload);
        this.fragmentBytes += payload.length;
        if (!fin) return;
        this.fragments = undefined;
        this.fragmentBytes = 0;
        this.message(this.fragmentText, this.fragmentCompressed, Buffer.concat(fragments));
        return;
      }
      case OP_PING:
        if (this.state === State.Open) this.socket.write(pongFrame(payload));
        return;
      case OP_PONG:
        this.handlers.pong?.(this);
        return;
      case OP_CLOSE:
        this.closeReceived(payload);
        return;
      default:
        throw new ProtocolError(1002, `invalid opcode ${opcode}`);
    }
  }

  private message(text: boolean, compressed: boolean, payload: Buffer): void {
    const data = compressed ? this.inflate(payload) : payload;
    if (text && this.options.validateUtf8 === true && !isUtf8(data))
      throw new ProtocolError(1007, 'text message is not UTF-8');
    // Messages that arrive after our close frame are not acted on.
    if (this.state !== State.Open) return;
    this.handlers.message(this, isShared(data) ? Buffer.from(data) : data);
  }

  /**
   * Inflates one message on its own (the client may not use context takeover), synchronously.
   * Tiny messages (a browser's compressed pongs) compress to the same bytes every time and are
   * looked up instead.
   */
  private inflate(payload: Buffer): Buffer {
    const key = payload.length <= TINY ? payload.toString('latin1') : undefined;
    const hit = key !== undefined ? tinyInflated.get(key) : undefined;
    if (hit !== undefined) {
      // The cache is shared by sockets of every limit: check this socket's.
      if (hit.length > this.maxInflated) throw new ProtocolError(1009, 'message too big after decompression');
      return Buffer.from(hit);
    }
    let out: Buffer;
    try {
      out = inflateRawSync(Buffer.concat([payload, SYNC_TAIL]), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        // zlib refuses a bound past the largest Buffer; no message can be larger anyway.
        maxOutputLength: Math.min(this.maxInflated + 1, bufferConstants.MAX_LENGTH),
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
        throw new ProtocolError(1009, 'message too big after decompression');
      throw new ProtocolError(1007, 'invalid compressed message');
    }
    if (out.length > this.maxInflated) throw new ProtocolError(1009, 'message too big after decompression');
    if (key !== undefined && out.length <= TINY_OUT) {
      if (tinyInflated.size >= TINY_ENTRIES) tinyInflated.clear();
      tinyInflated.set(key, Buffer.from(out));
    }
    return out;
  }

  /** The client's close frame: echo its code (none if it sent none) and end the socket. */
  private closeReceived(payload: Buffer): void {
    let code: number | undefined;
    let reason = '';
    if (payload.length === 1) throw new ProtocolError(1002, 'close frame with a 1-byte payload');
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!isValidCloseCode(code)) throw new ProtocolError(1002, `invalid close code ${code}`);
      const r = payload.subarray(2);
      if (!isUtf8(r)) throw new ProtocolError(1007, 'close reason is not UTF-8');
      reason = r.toString();
    }
    const wasOpen = this.state === State.Open;
    this.state = State.Closing;
    this.queued = undefined;
    this.queuedBytes = 0;
    if (wasOpen) this.socket.write(closeFrame(code, reason));
    this.socket.end();
    this.awaitEnd();
  }

  /** The client broke the protocol: close frame with the code, end output, discard input. */
  private fail(err: ProtocolError): void {
    const wasOpen = this.state === State.Open;
    this.state = State.Failed;
    this.queued = undefined;
    this.queuedBytes = 0;
    this.fragments = undefined;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    this.handlers.error?.(this, err);
    if (wasOpen) this.socket.write(closeFrame(err.code, ''));
    this.socket.end();
    this.awaitEnd();
  }

  /**
   * Destroys the socket if the client has not closed it `closeTimeout` ms from now. A timer only
   * while closing; a fixed deadline, so a client that keeps sending cannot hold the socket open.
   */
  private awaitEnd(): void {
    if (this.closeTimer !== undefined || this.state === State.Closed) return;
    const socket = this.socket;
    this.closeTimer = setTimeout(() => socket.destroy(), this.options.closeTimeout ?? CLOSE_TIMEOUT_MS);
    this.closeTimer.unref();
  }
}

function pongFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + payload.length);
  out[0] = 0x8a;
  out[1] = payload.length;
  payload.copy(out, 2);
  return out;
}

/** XORs `payload` in place with the 4-byte mask at `buf[maskAt]`. */
function unmask(payload: Buffer, buf: Buffer, maskAt: number): void {
  const m0 = buf[maskAt] as number;
  const m1 = buf[maskAt + 1] as number;
  const m2 = buf[maskAt + 2] as number;
  const m3 = buf[maskAt + 3] as number;
  if ((m0 | m1 | m2 | m3) === 0) return;
  const n = payload.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    payload[i] = (payload[i] as number) ^ m0;
    payload[i + 1] = (payload[i + 1] as number) ^ m1;
    payload[i + 2] = (payload[i + 2] as number) ^ m2;
    payload[i + 3] = (payload[i + 3] as number) ^ m3;
  }
  if (i < n) payload[i] = (payload[i] as number) ^ m0;
  if (i + 1 < n) payload[i + 1] = (payload[i + 1] as number) ^ m1;
  if (i + 2 < n) payload[i + 2] = (payload[i + 2] as number) ^ m2;
}
