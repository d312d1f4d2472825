import protobuf from 'protobufjs';
import { ProtocolDecodeError, type Codec } from './codec.js';
import { joinDelimited, splitDelimited } from './frame.js';
import { PROTOCOL_PROTO } from './schema.js';
import type { Command, ConnectRequest, EmulationRequest, Push, Reply } from './types.js';

// keepCase: field names stay snake_case, so the plain objects of types.ts encode as they are.
const root = protobuf.parse(PROTOCOL_PROTO, { keepCase: true }).root;
const lookup = (name: string): protobuf.Type => root.lookupType(`centrifugal.centrifuge.protocol.${name}`);
const CommandType = lookup('Command');
const ReplyType = lookup('Reply');
const PushType = lookup('Push');
const ConnectRequestType = lookup('ConnectRequest');
const EmulationRequestType = lookup('EmulationRequest');

// toObject drops absent fields, empty repeated/map fields, and turns 64-bit Long values into
// plain numbers; bytes stay Uint8Array (Buffer) views.
const plain: protobuf.IConversionOptions = { longs: Number };

function decodeAs<T>(type: protobuf.Type, bytes: Uint8Array): T {
  try {
    return type.toObject(type.decode(bytes), plain) as T;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ProtocolDecodeError(`malformed ${type.name}: ${reason}`);
  }
}

/**
 * Protobuf wire format (`centrifuge-protobuf`). Encoders take the plain objects of `types.ts`
 * directly (no mapping pass): zero values and absent fields are not written, 64-bit integers are
 * JS numbers. Encoded messages carry no length prefix; `joinFrame` adds one per message.
 */
export const protobufCodec: Codec = {
  type: 'protobuf',

  /**
   * Decodes a frame of one or more varint-delimited Commands. A zero-length message is an empty
   * Command (a pong). An empty frame, a truncated prefix, a length beyond the frame or bytes that
   * are not a Command throw `ProtocolDecodeError`. `bytes` fields of the result are views into
   * `frame` (no copy): the caller must not overwrite the frame while commands are in use.
   */
  decodeCommands(frame: Uint8Array): Command[] {
    if (frame.length === 0) throw new ProtocolDecodeError('empty frame');
    const bodies = splitDelimited(frame);
    const out: Command[] = new Array<Command>(bodies.length);
    for (let i = 0; i < bodies.length; i++) {
      const body = bodies[i] as Uint8Array;
      out[i] = body.length === 0 ? {} : decodeAs<Command>(CommandType, body);
    }
    return out;
  },

  encodeReply(reply: Reply): Uint8Array {
    return ReplyType.encode(reply).finish();
  },

  encodePush(push: Push): Uint8Array {
    return PushType.encode(push).finish();
  },

  joinFrame(messages: readonly Uint8Array[]): Uint8Array {
    return joinDelimited(messages);
  },

  /** A bare ConnectRequest message (no length prefix), as sent on the uni GRPC stream. */
  decodeConnectRequest(data: Uint8Array): ConnectRequest {
    return decodeAs<ConnectRequest>(ConnectRequestType, data);
  },
};

/**
 * Decodes the protobuf body of a `POST /emulation` request. `data` holds varint-delimited
 * Commands for `protobufCodec.decodeCommands`. Throws `ProtocolDecodeError` when malformed.
 */
export function decodeEmulationRequest(bytes: Uint8Array): EmulationRequest {
  const m = decodeAs<Partial<EmulationRequest>>(EmulationRequestType, bytes);
  return { node: m.node ?? '', session: m.session ?? '', data: m.data ?? new Uint8Array(0) };
}

/** Decodes one bare Reply message (tests and tooling; the server never reads replies). */
export function decodeReply(bytes: Uint8Array): Reply {
  return decodeAs<Reply>(ReplyType, bytes);
}

/** Decodes one bare Push message (tests and tooling). */
export function decodePush(bytes: Uint8Array): Push {
  return decodeAs<Push>(PushType, bytes);
}

/** Encodes Commands as one varint-delimited frame (tests and tooling, e.g. a client). */
export function encodeCommands(commands: readonly Command[]): Uint8Array {
  return joinDelimited(commands.map((c) => CommandType.encode(c).finish()));
}
