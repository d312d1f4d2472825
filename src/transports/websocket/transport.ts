import type { WebSocket } from 'ws';
import type { Transport } from '../../core/transport.js';
import type { Codec } from '../../protocol/codec.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ProtocolType } from '../../protocol/types.js';

/** Tracks sockets whose last write has not reached the kernel yet (see `WebSocketAcceptor`). */
export interface WriteWatcher {
  pending(transport: WebSocketTransport): void;
}

// Shared option objects: `ws.send` is called once per flush of every connection.
const TEXT = { binary: false } as const;
const BINARY = { binary: true } as const;

/** Largest close reason a close frame can carry (125 bytes minus the 2-byte code). */
const MAX_REASON_BYTES = 123;

/**
 * A bidirectional WebSocket connection as a core `Transport`.
 *
 * Contract: `write` sends all given messages as one WebSocket frame framed by the codec (JSON ⇒
 * text frame, Protobuf ⇒ binary frame); writes after `close` are dropped. `close` sends a close
 * frame with the disconnect code and reason, except code 3000 which drops the TCP connection
 * without a close frame. `close` is idempotent.
 */
export class WebSocketTransport implements Transport {
  readonly name = 'websocket';
  readonly unidirectional = false;
  readonly emulation = false;
  /** Write-timeout checkpoint kept by the acceptor: when bytes started waiting (ms), 0 = none. */
  pendingSince = 0;
  /** Bytes waiting in user space at the checkpoint. */
  pendingMark = 0;
  /** Total bytes handed to `ws.send` at the checkpoint. */
  sentAtMark = 0;
  /** Total bytes handed to `ws.send` so far. */
  sentBytes = 0;
  private closed = false;
  private readonly sendOptions: typeof TEXT | typeof BINARY;

  constructor(
    readonly ws: WebSocket,
    readonly protocol: ProtocolType,
    readonly protocolPing: boolean,
    private readonly codec: Codec,
    private readonly watcher: WriteWatcher | undefined,
  ) {
    this.sendOptions = protocol === 'json' ? TEXT : BINARY;
  }

  bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.closed || messages.length === 0) return;
    const frame = this.codec.joinFrame(messages);
    // ws frames a Buffer/Uint8Array without copying the payload; text frames are not UTF-8 checked.
    this.ws.send(frame, this.sendOptions);
    // Count the WebSocket frame header too: `bufferedAmount` includes it.
    this.sentBytes += frame.length + (frame.length < 126 ? 2 : frame.length < 65536 ? 4 : 10);
    if (this.watcher !== undefined && this.pendingSince === 0 && this.ws.bufferedAmount > 0) {
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
