import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { sharedDerived, type SharedDerived } from '../../core/encoded.js';
import type { Transport } from '../../core/transport.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ProtocolType } from '../../protocol/types.js';
import { deflatedFrame, deflateSegment, headerFor, payloadLength, plainFrame } from './frames.js';

/** Tracks sockets whose last write has not reached the kernel yet (see `WebSocketAcceptor`). */
export interface WriteWatcher {
  pending(transport: WebSocketTransport): void;
}

/**
 * permessage-deflate for the frames of one socket, negotiated without server context takeover.
 * One object per acceptor: its keys name this acceptor's entries in the shared-message caches.
 */
export interface DeflateSettings {
  level: number;
  /** Flushes of at most this many payload bytes go uncompressed (0: all from `MIN_DEFLATE`). */
  minSize: number;
  /** Cache key of a shared message's compressed frame. */
  readonly frameKey: symbol;
  /** Cache key of a shared message's deflate segment (for flushes of several messages). */
  readonly segmentKey: symbol;
}

export function deflateSettings(level: number, minSize: number): DeflateSettings {
  return { level, minSize, frameKey: Symbol('ws deflated frame'), segmentKey: Symbol('ws deflate segment') };
}

/** Cache key of a shared message's plain frame (the frame depends on the bytes only). */
const PLAIN_FRAME = Symbol('ws frame');
/** ws readyState OPEN. */
const OPEN = 1;
/**
 * Payloads shorter than this are never compressed, whatever `compression_min_size` says (pings,
 * short replies): deflate cannot make them meaningfully smaller, and each would cost a zlib
 * context on the server and an inflate on the client.
 */
const MIN_DEFLATE = 32;
/** A single unshared message above this size is written as header + message, not copied. */
const COPY_LIMIT = 16 * 1024;

/** Largest close reason a close frame can carry (125 bytes minus the 2-byte code). */
const MAX_REASON_BYTES = 123;

/**
 * A bidirectional WebSocket connection as a core `Transport`.
 *
 * Contract: `write` sends all given messages as one WebSocket frame framed by the codec (JSON ⇒
 * text frame, Protobuf ⇒ binary frame); writes after `close` are dropped. `close` sends a close
 * frame with the disconnect code and reason, except code 3000 which drops the TCP connection
 * without a close frame. `close` is idempotent.
 *
 * Data frames are built here and written straight to the TCP socket, one Buffer per flush: a
 * broadcast message (`sharedDerived`) gets its frame built once, and the same Buffer goes to every
 * socket. With permessage-deflate the payload is compressed once per broadcast too. `ws` still
 * writes the control frames (close, ping, pong) to the same socket; it writes them synchronously
 * because it never compresses anything here (no data frame goes through `ws.send`), so frames
 * leave in the order they were produced.
 */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  readonly unidirectional = false;
  readonly emulation = false;
  /** Write-timeout checkpoint kept by the acceptor: when bytes started waiting (ms), 0 = none. */
  pendingSince = 0;
  /** Bytes waiting in user space at the checkpoint. */
  pendingMark = 0;
  /** Total bytes handed to the socket at the checkpoint. */
  sentAtMark = 0;
  /** Total bytes of data frames handed to the socket so far. */
  sentBytes = 0;
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    /** The upgraded TCP socket `ws` runs on. */
    private readonly socket: Duplex,
    readonly protocol: ProtocolType,
    readonly protocolPing: boolean,
    private readonly watcher: WriteWatcher | undefined,
    /** Set when the client negotiated permessage-deflate and the frames may be compressed. */
    readonly deflate: DeflateSettings | undefined = undefined,
  ) {}

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.closed || messages.length === 0) return;
    // After a close frame (ours, or ws answering the client's) no data frame may follow. ws also
    // leaves OPEN synchronously when the socket errors or is terminated.
    if (this.ws.readyState !== OPEN) return;
    const protocol = this.protocol;
    let frame: Buffer;
    if (messages.length === 1) {
      const message = messages[0] as Uint8Array;
      const derived = sharedDerived(message);
      if (derived !== undefined) {
        frame = this.sharedFrame(message, derived);
      } else {
        const length = payloadLength(protocol, messages);
        if (this.compresses(length)) {
          frame = this.compressedFrame(messages, length);
        } else if (length > COPY_LIMIT) {
          this.writeTwo(headerFor(protocol, message), message);
          return;
        } else {
          frame = plainFrame(protocol, messages, length);
        }
      }
    } else {
      const length = payloadLength(protocol, messages);
      frame = this.compresses(length)
        ? this.compressedFrame(messages, length)
        : plainFrame(protocol, messages, length);
    }
    this.socket.write(frame);
    this.wrote(frame.length);
  }

  private compresses(length: number): boolean {
    const d = this.deflate;
    return d !== undefined && length >= MIN_DEFLATE && (d.minSize <= 0 || length > d.minSize);
  }

  /** The frame of one shared broadcast message, built by the first socket that sends it. */
  private sharedFrame(message: Uint8Array, derived: SharedDerived): Buffer {
    const d = this.deflate;
    if (d !== undefined && this.compresses(payloadLength(this.protocol, [message]))) {
      let frame = derived[d.frameKey] as Buffer | undefined;
      if (frame === undefined) {
        frame = deflatedFrame(this.protocol, [this.segmentOf(message, derived)]);
        // Not a sync-flushed stream (never expected): fall back to the plain frame for everyone.
        frame ??= plainFrame(this.protocol, [message], payloadLength(this.protocol, [message]));
        derived[d.frameKey] = frame;
      }
      return frame;
    }
    let frame = derived[PLAIN_FRAME] as Buffer | undefined;
    if (frame === undefined) {
      frame = plainFrame(this.protocol, [message], payloadLength(this.protocol, [message]));
      derived[PLAIN_FRAME] = frame;
    }
    return frame;
  }

  /** A message's deflate segment: computed once for a shared message, per write otherwise. */
  private segmentOf(message: Uint8Array, derived: SharedDerived | undefined): Buffer {
    const d = this.deflate as DeflateSettings;
    if (derived === undefined) return deflateSegment(this.protocol, message, d.level);
    let seg = derived[d.segmentKey] as Buffer | undefined;
    if (seg === undefined) {
      seg = deflateSegment(this.protocol, message, d.level);
      derived[d.segmentKey] = seg;
    }
    return seg;
  }

  /**
   * A compressed frame of several messages: each message is compressed on its own (shared ones
   * once for every socket) and the segments are concatenated, so a flush that only holds
   * broadcast messages costs no compression per socket.
   */
  private compressedFrame(messages: readonly Uint8Array[], length: number): Buffer {
    const segments: Buffer[] = [];
    for (const m of messages) segments.push(this.segmentOf(m, sharedDerived(m)));
    return deflatedFrame(this.protocol, segments) ?? plainFrame(this.protocol, messages, length);
  }

  private writeTwo(header: Buffer, message: Uint8Array): void {
    this.socket.cork();
    this.socket.write(header);
    this.socket.write(message);
    this.socket.uncork();
    this.wrote(header.length + message.length);
  }

  private wrote(bytes: number): void {
    this.sentBytes += bytes;
    // ws's bufferedAmount is this plus what its sender holds back, which is nothing here.
    if (this.watcher !== undefined && this.pendingSince === 0 && this.socket.writableLength > 0) {
      this.watcher.pending(this);
    }
  }

  close(d: Disconnect): void {
    if (this.closed) return;
    this.closed = true;
    if (d.code === 3000) {
      this.ws.terminate();
      return;
    }
    try {
      this.ws.close(d.code, truncateReason(d.reason));
    } catch {
      // An invalid close code for the WebSocket protocol: drop the connection instead.
      this.ws.terminate();
    }
  }

  /** True once `close` was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Marks the transport closed after the socket went away on its own. */
  markClosed(): void {
    this.closed = true;
  }
}

function truncateReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  let r = reason;
  while (Buffer.byteLength(r) > MAX_REASON_BYTES) r = r.slice(0, -1);
  return r;
}
