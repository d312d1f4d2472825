/**
 * Micro-benchmark: the Protobuf encoding of a publication push (the one encoding every broadcast
 * makes), protobufjs reflection (`protobufCodec.encodeReply`, what the core uses) against a
 * hand-written encoder of the same fields. Both must produce identical bytes; the script checks it.
 *
 *   node --import tsx bench/micro/push-encode.ts [iterations]
 */
import assert from 'node:assert/strict';
import { protobufCodec } from '../../src/protocol/index.js';
import { varintSize, writeVarint } from '../../src/protocol/frame.js';
import type { Reply } from '../../src/protocol/types.js';

const utf8 = new TextEncoder();

/** Reply{push(4): Push{channel(2), pub(4): Publication{data(4), offset(6)}}}, written by hand. */
function encodePubPush(channel: string, data: Uint8Array, offset: number): Uint8Array {
  const chLen = Buffer.byteLength(channel);
  const pubLen = 1 + varintSize(data.length) + data.length + (offset > 0 ? 1 + varintSize(offset) : 0);
  const pushLen = 1 + varintSize(chLen) + chLen + 1 + varintSize(pubLen) + pubLen;
  // allocUnsafe draws from Node's pool, as protobufjs does: no zero-fill, no new ArrayBuffer.
  const out = Buffer.allocUnsafe(1 + varintSize(pushLen) + pushLen);
  let p = 0;
  out[p++] = (4 << 3) | 2; // Reply.push
  p = writeVarint(out, p, pushLen);
  out[p++] = (2 << 3) | 2; // Push.channel
  p = writeVarint(out, p, chLen);
  p += out.write(channel, p, 'utf8');
  out[p++] = (4 << 3) | 2; // Push.pub
  p = writeVarint(out, p, pubLen);
  out[p++] = (4 << 3) | 2; // Publication.data
  p = writeVarint(out, p, data.length);
  out.set(data, p);
  p += data.length;
  if (offset > 0) {
    out[p++] = 6 << 3; // Publication.offset (varint)
    writeVarint(out, p, offset);
  }
  return out;
}

function timeIt(name: string, n: number, fn: (i: number) => Uint8Array): number {
  for (let i = 0; i < 10_000; i++) fn(i); // warm up
  const start = process.hrtime.bigint();
  let bytes = 0;
  for (let i = 0; i < n; i++) bytes += fn(i).length;
  const ns = Number(process.hrtime.bigint() - start) / n;
  console.log(`${name.padEnd(26)} ${ns.toFixed(0).padStart(6)} ns/push  (${bytes} bytes total)`);
  return ns;
}

const n = Number(process.argv[2] ?? 200_000);
const channel = 'news:sports';
const data = utf8.encode(JSON.stringify({ t: 1732370000000000, s: 123, p: 'x'.repeat(32) }));

for (const offset of [0, 1, 123456]) {
  const reply: Reply = { push: { channel, pub: offset > 0 ? { data, offset } : { data } } };
  assert.ok(
    Buffer.from(encodePubPush(channel, data, offset)).equals(Buffer.from(protobufCodec.encodeReply(reply))),
    'same bytes',
  );
}

console.log(`protobuf publication push, ${data.length}-byte payload, ${n} iterations`);
const reflect = timeIt('protobufjs (core codec)', n, (i) =>
  protobufCodec.encodeReply({ push: { channel, pub: { data, offset: i + 1 } } }),
);
const hand = timeIt('hand-written', n, (i) => encodePubPush(channel, data, i + 1));
console.log(`hand-written / protobufjs: ${(hand / reflect).toFixed(2)}`);
