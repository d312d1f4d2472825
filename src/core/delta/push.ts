import type { Codec } from '../../protocol/codec.js';
import type { Publication } from '../../protocol/types.js';
import { EncodedPush, type Variant } from '../encoded.js';
import { fossilDelta, isTextSafe, jsonStringBytes } from './fossil.js';

/**
 * The forms of one broadcast publication that subscriptions with negotiated delta get (§9.4):
 * the full payload (on JSON connections as a JSON string) and the fossil delta against the
 * previous stream publication. Everything is computed lazily and at most once per publication
 * (the delta) or once per variant (the encodings), never per subscriber.
 */
export class DeltaPush {
  private jsonFull: EncodedPush | undefined;
  /** undefined = not computed yet; null = no useful delta (absent base, not smaller, not text). */
  private deltaRaw: Uint8Array | null | undefined;
  private deltaJson: EncodedPush | null | undefined;
  private deltaProto: EncodedPush | undefined;

  /**
   * @param full the ordinary push of `pub` (shared with subscriptions without delta)
   * @param prev the previous publication of the stream when the publication asked for delta
   */
  constructor(
    private readonly full: EncodedPush,
    private readonly channel: string,
    private readonly pub: Publication,
    private readonly prev: Publication | undefined,
    private readonly json: Codec,
    private readonly protobuf: Codec,
  ) {}

  /** Offset of the publication a delta is computed against (0 = no delta possible). */
  get baseOffset(): number {
    return this.prev?.offset ?? 0;
  }

  /**
   * Bytes for a delta subscriber. `hasBase` says the client holds the previous stream
   * publication (`baseOffset`) as its last payload; then it may get the delta.
   */
  get(variant: Variant, hasBase: boolean): Uint8Array {
    const isJson = (variant & 1) === 0;
    if (hasBase) {
      const d = isJson ? this.jsonDelta() : this.protoDelta();
      if (d) return d.get(variant);
    }
    return isJson ? this.jsonFullPush().get(variant) : this.full.get(variant);
  }

  private raw(): Uint8Array | null {
    if (this.deltaRaw !== undefined) return this.deltaRaw;
    const prev = this.prev;
    let d: Uint8Array | null = null;
    if (prev && prev.offset !== undefined && prev.offset > 0) {
      const candidate = fossilDelta(prev.data, this.pub.data);
      // Send the full payload when the delta would not be smaller.
      if (candidate.length < this.pub.data.length) d = candidate;
    }
    this.deltaRaw = d;
    return d;
  }

  private jsonFullPush(): EncodedPush {
    this.jsonFull ??= new EncodedPush(
      { channel: this.channel, pub: { ...this.pub, data: jsonStringBytes(this.pub.data) } },
      this.json,
      this.protobuf,
    );
    return this.jsonFull;
  }

  private jsonDelta(): EncodedPush | null {
    if (this.deltaJson !== undefined) return this.deltaJson;
    const d = this.raw();
    // A JSON connection carries the delta as a string: it must be valid UTF-8 to survive.
    this.deltaJson =
      d && isTextSafe(d)
        ? new EncodedPush(
            { channel: this.channel, pub: { ...this.pub, data: jsonStringBytes(d), delta: true } },
            this.json,
            this.protobuf,
          )
        : null;
    return this.deltaJson;
  }

  private protoDelta(): EncodedPush | null {
    if (this.deltaProto) return this.deltaProto;
    const d = this.raw();
    if (!d) return null;
    this.deltaProto = new EncodedPush(
      { channel: this.channel, pub: { ...this.pub, data: d, delta: true } },
      this.json,
      this.protobuf,
    );
    return this.deltaProto;
  }
}

/** A publication as a delta subscription on a JSON connection gets it in a reply: data as a JSON string. */
export function jsonFullPublication(pub: Publication): Publication {
  return { ...pub, data: jsonStringBytes(pub.data) };
}
