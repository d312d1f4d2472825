import type { Codec } from '../protocol/codec.js';
import type { Push } from '../protocol/types.js';

/** How a connection wants its pushes: index into the per-broadcast encoding cache. */
/** 0 JSON Reply, 1 Protobuf Reply, 2 bare JSON Push, 3 bare Protobuf Push. */
export type Variant = 0 | 1 | 2 | 3;

export function variantOf(protocol: 'json' | 'protobuf', unidirectional: boolean): Variant {
  return ((protocol === 'protobuf' ? 1 : 0) + (unidirectional ? 2 : 0)) as Variant;
}

/**
 * One push encoded lazily at most once per variant (JSON/Protobuf x Reply-wrapped/bare). Every
 * subscriber of a broadcast gets the very same bytes, so fan-out never serializes per socket.
 */
export class EncodedPush {
  private readonly cache: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];

  constructor(
    readonly push: Push,
    private readonly json: Codec,
    private readonly protobuf: Codec,
  ) {}

  get(variant: Variant): Uint8Array {
    const hit = this.cache[variant];
    if (hit) return hit;
    const codec = (variant & 1) === 0 ? this.json : this.protobuf;
    const bytes = variant < 2 ? codec.encodeReply({ push: this.push }) : codec.encodePush(this.push);
    this.cache[variant] = bytes;
    return bytes;
  }
}
