import type { Duplex } from 'node:stream';
import type { Transport } from '../../core/transport.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ProtocolType } from '../../protocol/types.js';
import type { ConnectionSink } from './acceptor.js';
import { writeFrame, type DeflateSettings } from './frames.js';
import { fitCloseReason, type ServerWebSocket } from './server-socket.js';

/** Tracks sockets whose last write has not reached the kernel yet (see `WebSocketAcceptor`). */
export interface WriteWatcher {
  pending(transport: WebSocketTransport): void;
}

/**
 * A bidirectional WebSocket connection as a core `Transport`.
 *
 * Contract: `write` sends all given messages as one WebSocket frame framed by the codec (JSON ⇒
 * text frame, Protobuf ⇒ binary frame); writes after `close` are dropped. `close` sends a close
 * frame with the disconnect code and reason, except code 3000 which drops the TCP connection
 * without a close frame. `close` is idempotent.
 *
 * Data frames are built by `writeFrame` (frames.ts) and written straight to the TCP socket, one
 * Buffer per flush: a broadcast message (`sharedDerived`) gets its frame built once, and the same
 * Buffer goes to every socket. With permessage-deflate the payload is compressed once per
 * broadcast too. The `ServerWebSocket` writes the control frames (close, ping, pong) to the same
 * socket, synchronously, so frames leave in the order they were produced.
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
  /** Where the acceptor hands incoming messages and the close (set once the client exists). */
  sink: ConnectionSink | undefined = undefined;
  private closed = false;

  constructor(
    readonly ws: ServerWebSocket,
    readonly protocol: ProtocolType,
    readonly protocolPing: boolean,
    private readonly watcher: WriteWatcher | undefined,
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

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.closed || messages.length === 0) return;
    // After a close frame (ours, or the client's) no data frame may follow.
    if (!this.ws.isOpen) return;
    this.wrote(writeFrame(this.socket, this.protocol, messages, this.deflate));
  }

  private wrote(bytes: number): void {
    this.sentBytes += bytes;
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
      this.ws.close(d.code, fitCloseReason(d.reason));
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
