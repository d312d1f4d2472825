import type { Command, ConnectRequest, ProtocolType, Push, Reply } from './types.js';

/**
 * One wire format (JSON or Protobuf). Encoding produces one message without framing; `joinFrame`
 * applies the format's framing (JSON: `\n`-joined lines; Protobuf: varint length prefix per
 * message) so a writer can coalesce many queued messages into a single transport frame.
 */
export interface Codec {
  readonly type: ProtocolType;
  /** Decode every command in one incoming frame. Throws `ProtocolDecodeError` on malformed input. */
  decodeCommands(frame: Uint8Array): Command[];
  /** Encode a Reply (bidirectional transports). */
  encodeReply(reply: Reply): Uint8Array;
  /** Encode a bare Push (unidirectional transports). */
  encodePush(push: Push): Uint8Array;
  /** Frame several encoded messages into one chunk. */
  joinFrame(messages: readonly Uint8Array[]): Uint8Array;
  /** Decode a bare ConnectRequest (unidirectional transports, GRPC uni stream). */
  decodeConnectRequest(data: Uint8Array): ConnectRequest;
}

export class ProtocolDecodeError extends Error {}
