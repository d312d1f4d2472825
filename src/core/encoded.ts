import type { Codec } from '../protocol/codec.js';
import type { Push } from '../protocol/types.js';

/** How a connection wants its pushes: index into the per-broadcast encoding cache. */
/** 0 JSON Reply, 1 Protobuf Reply, 2 bare JSON Push, 3 bare Protobuf Push. */
export type Variant = 0 | 1 | 2 | 3;

export function variantOf(protocol: 'json' | 'protobuf', unidirectional: boolean): Variant {
  return ((protocol === 'protobuf' ? 1 : 0) + (unidirectional ? 2 : 0)) as Variant;
}

/**
 * What a transport derived from one shared broadcast message and keeps for the next socket (a
 * complete WebSocket frame, a compressed one), under a key the transport owns.
 */
export type SharedDerived = Record<symbol, unknown>;

const shared = new WeakMap<Uint8Array, SharedDerived>();

/**
 * The derived-data cache of `bytes` when they are a broadcast message shared by many connections
 * (an `EncodedPush` variant), else undefined. A transport that turns every flush into a frame
 * uses it to build the frame of a shared message once and write those same bytes to every socket.
 * Entries live exactly as long as the bytes (weakly held).
 */
export function sharedDerived(bytes: Uint8Array): SharedDerived | undefined {
  return shared.get(bytes);
}

/** Marks `bytes` as shared by many connections (see `sharedDerived`). Returns the bytes. */
export function markShared(bytes: Uint8Array): Uint8Array {
  shared.set(bytes, {});
  return bytes;
}

/**
 * One push encoded lazily at most once per variant (JSON/Protobuf x Reply-wrapped/bare). Every
 * subscriber of a broadcast gets the very same bytes, so fan-out never serializes per socket.
 * The bytes are marked shared, so transports can also frame them once (`sharedDerived`).
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
    const bytes = markShared(
      variant < 2 ? codec.encodeReply({ push: this.push }) : codec.encodePush(this.push),
    );
    this.cache[variant] = bytes;
    return bytes;
  }
}
