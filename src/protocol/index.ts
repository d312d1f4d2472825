import type { Codec } from './codec.js';
import { jsonCodec } from './json-codec.js';
import { protobufCodec } from './protobuf-codec.js';
import type { ProtocolType } from './types.js';

export * from './types.js';
export * from './codes.js';
export * from './codec.js';
export { jsonCodec } from './json-codec.js';
export { decodeJsonEmulationRequest } from './json-decode.js';
export {
  protobufCodec,
  decodeEmulationRequest,
  decodeReply,
  decodePush,
  encodeCommands,
} from './protobuf-codec.js';
export { ProtobufStreamDecoder, delimit, joinDelimited, joinLines, splitDelimited } from './frame.js';
export { PROTOCOL_PROTO } from './schema.js';

/** The codec for a negotiated wire format. */
export function codecFor(type: ProtocolType): Codec {
  return type === 'protobuf' ? protobufCodec : jsonCodec;
}
