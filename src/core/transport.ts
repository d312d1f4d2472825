import type { Disconnect } from '../protocol/codes.js';
import type { ProtocolType } from '../protocol/types.js';

/**
 * What core needs from a connection's transport (WebSocket, HTTP-streaming, SSE, uni variants).
 *
 * Contract:
 * - `write` receives messages already encoded with the connection's codec (Replies on
 *   bidirectional transports, bare Pushes on unidirectional ones) and sends them as one flush:
 *   the transport applies its framing (one WebSocket frame joined by the codec, one SSE event per
 *   message, ...). Core calls it from one place only: the connection's writer.
 * - `close` ends the connection with a disconnect. It is idempotent. On WebSocket the code and
 *   reason go into the close frame (3000 closes without a code); emulation and unidirectional
 *   transports are given the disconnect push by core before `close` is called.
 * - The transport tells core about incoming data and about the socket closing by calling
 *   `Client.handleData` and `Client.handleClose`.
 */
export interface Transport {
  /** `websocket`, `http_stream`, `sse`, `uni_websocket`, `uni_sse`, `uni_http_stream`, `uni_grpc`. */
  readonly name: string;
  readonly protocol: ProtocolType;
  /** Receives bare Pushes and never sends commands after the connect request. */
  readonly unidirectional: boolean;
  /** Bidirectional emulation (HTTP-streaming, SSE): disconnects are delivered as a push. */
  readonly emulation: boolean;
  /**
   * When false core sends no protocol pings and expects no pongs (native WebSocket ping frames
   * with `cf_ws_frame_ping_pong`, or a transport that pings on its own).
   */
  readonly protocolPing: boolean;
  /** Bytes written but not yet flushed to the kernel, if the transport can tell. */
  bufferedAmount?(): number;
  /**
   * Sends one flush of encoded messages. The caller never modifies `messages` (nor the bytes)
   * afterwards, so a transport may keep the array, e.g. to reuse a frame built for the same
   * messages.
   */
  write(messages: readonly Uint8Array[]): void;
  close(disconnect: Disconnect): void;
  /**
   * Holds the client back while too many of its commands wait: a WebSocket stops reading (TCP
   * backpressure), an HTTP-streaming or SSE session makes its `/emulation` requests wait. Absent
   * where the transport cannot hold its client back.
   */
  pauseReading?(): void;
  /** Reads again after `pauseReading`. */
  resumeReading?(): void;
}

/** Facts about the request that opened the connection, handed to the connecting handler. */
export interface ConnectionMeta {
  /** Lower-cased HTTP header names of the upgrade / initial request. */
  headers: Record<string, string>;
  /** The client's IP address (HTTP transports read it on demand: read it while the connection is open). */
  remoteAddress?: string | undefined;
  /** Full request URL path with query, e.g. `/connection/websocket?cf_protocol=protobuf`. */
  url?: string;
}
