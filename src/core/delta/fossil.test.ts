import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Centrifuge as JsonCentrifuge } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';
import { fossilDelta, jsonStringBytes } from './fossil.js';

/** The SDK codec method that decodes a publication of a delta subscription. */
interface SdkCodec {
  applyDeltaIfNeeded(
    pub: { data: unknown; delta?: boolean },
    prev: Uint8Array | undefined,
  ): { newData: unknown; newPrevValue: Uint8Array; isDelta: boolean };
}

/** The SDK's own fossil decoder is not exported; its codecs call it, so tests go through them. */
function sdkCodec(build: 'json' | 'protobuf'): SdkCodec {
  const c =
    build === 'json'
      ? new JsonCentrifuge('ws://127.0.0.1:1/unused')
      : new ProtobufCentrifuge('ws://127.0.0.1:1/unused');
  return (c as unknown as { _codec: SdkCodec })._codec;
}

/** Deterministic PRNG (mulberry32) so a failing case can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(r: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** A mutation of `src`: random inserts, deletes, overwrites and block moves. */
function mutate(r: () => number, src: Uint8Array): Uint8Array {
  let cur = Array.from(src);
  const edits = 1 + Math.floor(r() * 8);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (cur.length + 1));
    const len = Math.floor(r() * 64);
    const kind = Math.floor(r() * 4);
    if (kind === 0) cur.splice(at, 0, ...randomBytes(r, len));
    else if (kind === 1) cur.splice(at, len);
    else if (kind === 2)
      for (let i = at; i < Math.min(cur.length, at + len); i++) cur[i] = Math.floor(r() * 256);
    else cur = [...cur.slice(at), ...cur.slice(0, at)];
  }
  return Uint8Array.from(cur);
}

void describe('fossil delta against the SDK decoder', () => {
  const pb = sdkCodec('protobuf');
  const json = sdkCodec('json');

  void it('reconstructs random binary targets (protobuf SDK codec)', () => {
    const r = rng(20261123);
    for (let i = 0; i < 400; i++) {
      const size = Math.floor(r() * (i % 10 === 0 ? 20000 : 600));
      const source = randomBytes(r, size);
      const target = r() < 0.2 ? randomBytes(r, Math.floor(r() * 600)) : mutate(r, source);
      const delta = fossilDelta(source, target);
      const out = pb.applyDeltaIfNeeded({ data: delta, delta: true }, source);
      assert.deepEqual(Buffer.from(out.newData as Uint8Array), Buffer.from(target), `case ${i}`);
    }
  });

  void it('reconstructs random JSON documents sent as JSON strings (JSON SDK codec)', () => {
    const r = rng(7);
    const words = ['a', 'bé', 'ключ', '値', 'x\ny', '"q"', '🚀', 'long-value-'.repeat(5)];
    const doc = (): unknown => {
      const o: Record<string, unknown> = {};
      const n = 1 + Math.floor(r() * 30);
      for (let i = 0; i < n; i++) o[`k${Math.floor(r() * 40)}`] = words[Math.floor(r() * words.length)];
      return o;
    };
    const enc = new TextEncoder();
    for (let i = 0; i < 300; i++) {
      const a = doc();
      const b = r() < 0.5 ? { ...(a as object), extra: doc() } : doc();
      const source = enc.encode(JSON.stringify(a));
      const target = enc.encode(JSON.stringify(b));
      const full = json.applyDeltaIfNeeded(
        { data: JSON.parse(Buffer.from(jsonStringBytes(source)).toString()) as string },
        undefined,
      );
      assert.deepEqual(full.newData, a);
      const delta = fossilDelta(source, target);
      if (!Buffer.from(delta).equals(Buffer.from(new TextEncoder().encode(new TextDecoder().decode(delta)))))
        continue; // not text-safe: the server sends the full payload instead (see DeltaPush)
      const wire = JSON.parse(Buffer.from(jsonStringBytes(delta)).toString()) as string;
      const out = json.applyDeltaIfNeeded({ data: wire, delta: true }, full.newPrevValue);
      assert.deepEqual(out.newData, b, `case ${i}`);
    }
  });

  void it('makes deltas much smaller than the payload for similar documents', () => {
    const base = Buffer.from(
      JSON.stringify({ items: Array.from({ length: 50 }, (_, i) => ({ i, v: 'x' })) }),
    );
    const next = Buffer.from(base.toString().replace('"i":25,"v":"x"', '"i":25,"v":"y"'));
    const d = fossilDelta(base, next);
    assert.ok(d.length < base.length / 10, `delta ${d.length} bytes for ${base.length}`);
  });
});
