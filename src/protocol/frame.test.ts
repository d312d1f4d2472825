import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolDecodeError } from './codec.js';
import {
  ProtobufStreamDecoder,
  delimit,
  joinDelimited,
  joinLines,
  readVarint,
  splitDelimited,
  varintSize,
  writeVarint,
  type VarintRead,
} from './frame.js';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const plain = (list: Uint8Array[]): number[][] => list.map((m) => Array.from(m));

void describe('varint', () => {
  void it('round-trips lengths across every byte-size boundary', () => {
    for (const n of [0, 1, 127, 128, 300, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0xffffffff]) {
      const buf = new Uint8Array(5);
      const end = writeVarint(buf, 0, n);
      assert.equal(end, varintSize(n), `size of ${n}`);
      const r: VarintRead = { value: -1, pos: -1 };
      assert.equal(readVarint(buf.subarray(0, end), 0, r), true);
      assert.deepEqual(r, { value: n, pos: end });
    }
  });

  void it('encodes 300 as the protobuf reference bytes ac 02', () => {
    const buf = new Uint8Array(2);
    writeVarint(buf, 0, 300);
    assert.deepEqual(Array.from(buf), [0xac, 0x02]);
  });

  void it('reports a varint cut short as incomplete, and rejects overlong ones', () => {
    const r: VarintRead = { value: 0, pos: 0 };
    assert.equal(readVarint(bytes(0x80, 0x80), 0, r), false);
    assert.throws(() => readVarint(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x01), 0, r), ProtocolDecodeError);
    assert.throws(() => readVarint(bytes(0xff, 0xff, 0xff, 0xff, 0x7f), 0, r), ProtocolDecodeError);
  });
});

void describe('protobuf framing', () => {
  void it('joins messages with varint prefixes and splits them back without copying', () => {
    const big = new Uint8Array(200).fill(7);
    const frame = joinDelimited([bytes(1, 2), bytes(), big]);
    assert.deepEqual(Array.from(frame.subarray(0, 6)), [2, 1, 2, 0, 0xc8, 0x01]);
    const parts = splitDelimited(frame);
    assert.deepEqual(plain(parts), [[1, 2], [], Array.from(big)]);
    assert.equal(parts[2]?.buffer, frame.buffer, 'views into the frame');
  });

  void it('delimit is the single-message form of joinDelimited', () => {
    assert.deepEqual(Array.from(delimit(bytes(9))), [1, 9]);
    assert.deepEqual(Array.from(joinDelimited([bytes(9)])), [1, 9]);
    assert.deepEqual(Array.from(delimit(bytes())), [0]);
  });

  void it('rejects a truncated prefix and a length beyond the frame', () => {
    assert.throws(() => splitDelimited(bytes(0x80)), ProtocolDecodeError);
    assert.throws(() => splitDelimited(bytes(3, 1, 2)), ProtocolDecodeError);
  });
});

void describe('JSON framing', () => {
  void it('joins lines with a single newline and returns a lone message as is', () => {
    const one = text('{"a":1}');
    assert.equal(joinLines([one]), one);
    assert.equal(
      new TextDecoder().decode(joinLines([text('{}'), text('{"b":2}'), text('{}')])),
      '{}\n{"b":2}\n{}',
    );
    assert.equal(joinLines([]).length, 0);
  });
});

void describe('ProtobufStreamDecoder', () => {
  const messages = [
    bytes(),
    bytes(1),
    new Uint8Array(130).fill(5),
    bytes(2, 3, 4),
    new Uint8Array(20000).fill(9),
  ];
  const stream = joinDelimited(messages);

  void it('yields every message whatever the chunk size, including splits inside varints', () => {
    for (const size of [1, 2, 3, 7, 64, 131, 132, 1000, stream.length]) {
      const d = new ProtobufStreamDecoder();
      const got: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(...d.push(stream.slice(i, i + size)));
      assert.deepEqual(plain(got), plain(messages), `chunk size ${size}`);
      assert.equal(d.buffered, 0);
    }
  });

  void it('keeps earlier messages intact when the caller reuses its chunk buffer', () => {
    const d = new ProtobufStreamDecoder();
    const chunk = new Uint8Array(3);
    chunk.set([2, 1, 2]);
    const first = d.push(chunk.subarray(0, 2)); // prefix + half a message: held back
    assert.equal(first.length, 0);
    assert.equal(d.buffered, 2);
    const second = d.push(chunk.subarray(2, 3));
    chunk.fill(0);
    assert.deepEqual(plain(second), [[1, 2]]);
  });

  void it('rejects a declared length over the limit before buffering it', () => {
    const d = new ProtobufStreamDecoder(100);
    assert.throws(() => d.push(bytes(0xe8, 0x07)), ProtocolDecodeError); // 1000
    const ok = new ProtobufStreamDecoder(100);
    assert.deepEqual(plain(ok.push(delimit(new Uint8Array(100)))), [Array.from(new Uint8Array(100))]);
  });

  void it('rejects a corrupt length prefix in the stream', () => {
    const d = new ProtobufStreamDecoder();
    assert.throws(() => d.push(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), ProtocolDecodeError);
  });
});
