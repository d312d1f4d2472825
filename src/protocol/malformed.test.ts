import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolDecodeError } from './codec.js';
import { jsonCodec } from './json-codec.js';
import { decodeJsonEmulationRequest } from './json-decode.js';
import { decodeEmulationRequest, encodeCommands, protobufCodec } from './protobuf-codec.js';

const u8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hexBytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'));

function rejects(fn: () => unknown, label: string): void {
  assert.throws(fn, ProtocolDecodeError, label);
}

/** Runs `fn`; it may succeed, but if it throws the error must be a ProtocolDecodeError. */
function decodesOrRejectsCleanly(fn: () => unknown, label: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ProtocolDecodeError, `${label}: ${String(err)}`);
  }
}

/** mulberry32: small deterministic PRNG so fuzz failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

void describe('JSON: malformed input', () => {
  const bad: [string, string][] = [
    ['empty frame', ''],
    ['only a newline', '\n'],
    ['empty line in the middle', '{}\n\n{}'],
    ['two trailing newlines', '{}\n\n'],
    ['leading newline', '\n{}'],
    ['invalid JSON', '{"id":1,'],
    ['not JSON at all', 'hello'],
    ['whitespace line', '   '],
    ['array line', '[]'],
    ['null line', 'null'],
    ['number line', '1'],
    ['string line', '"connect"'],
    ['id as string', '{"id":"1","presence":{"channel":"c"}}'],
    ['negative id', '{"id":-1,"presence":{"channel":"c"}}'],
    ['fractional id', '{"id":1.5,"presence":{"channel":"c"}}'],
    ['id beyond uint32', '{"id":4294967296,"presence":{"channel":"c"}}'],
    ['request field not an object', '{"id":1,"subscribe":"news"}'],
    ['request field an array', '{"id":1,"subscribe":["news"]}'],
    ['channel not a string', '{"id":1,"subscribe":{"channel":5}}'],
    ['bool as string', '{"id":1,"subscribe":{"channel":"c","recover":"true"}}'],
    ['offset negative', '{"id":1,"subscribe":{"channel":"c","offset":-3}}'],
    ['offset as string', '{"id":1,"subscribe":{"channel":"c","offset":"3"}}'],
    ['headers value not a string', '{"id":1,"connect":{"headers":{"a":1}}}'],
    ['subs entry not an object', '{"id":1,"connect":{"subs":{"c":true}}}'],
    ['filter child not an object', '{"id":1,"subscribe":{"channel":"c","tf":{"op":"and","nodes":[1]}}}'],
    [
      'filter vals not strings',
      '{"id":1,"subscribe":{"channel":"c","tf":{"key":"k","cmp":"in","vals":[1]}}}',
    ],
    ['history since not an object', '{"id":1,"history":{"channel":"c","since":5}}'],
    ['limit not an integer', '{"id":1,"history":{"channel":"c","limit":1.5}}'],
    ['second line bad', '{}\n{"id":'],
    ['untrack not an array', '{"id":1,"sub_refresh":{"channel":"c","untrack":"k"}}'],
  ];
  for (const [label, frame] of bad) {
    void it(`rejects ${label}`, () => rejects(() => jsonCodec.decodeCommands(u8(frame)), label));
  }

  void it('rejects deeply nested filters without overflowing the stack', () => {
    const depth = 20000;
    const text =
      '{"id":1,"subscribe":{"channel":"c","tf":' +
      '{"nodes":['.repeat(depth) +
      '{}' +
      ']}'.repeat(depth) +
      '}}';
    rejects(() => jsonCodec.decodeCommands(u8(text)), 'deep nesting');
    const ok =
      '{"id":1,"subscribe":{"channel":"c","tf":' +
      '{"op":"not","nodes":['.repeat(10) +
      '{}' +
      ']}'.repeat(10) +
      '}}';
    assert.equal(jsonCodec.decodeCommands(u8(ok)).length, 1);
  });

  void it('rejects a malformed bare ConnectRequest and emulation body', () => {
    for (const s of ['', '[]', '"x"', '{"token":1}', '{']) {
      rejects(() => jsonCodec.decodeConnectRequest(u8(s)), s);
    }
    for (const s of ['', '[]', '{"session":1}', '{"node":[]}', 'nope']) {
      rejects(() => decodeJsonEmulationRequest(u8(s)), s);
    }
  });

  void it('fuzz: random bytes and mutated commands never throw anything but ProtocolDecodeError', () => {
    const rnd = prng(12345);
    const seeds = [
      '{"id":1,"connect":{"token":"t","data":{"a":1},"subs":{"c":{"recover":true,"offset":1}}}}',
      '{"id":2,"subscribe":{"channel":"c","tf":{"op":"and","nodes":[{"key":"k","cmp":"eq","val":"v"}]}}}',
      '{}\n{"id":3,"history":{"channel":"c","since":{"offset":1,"epoch":"e"},"limit":5}}',
    ].map(u8);
    const alphabet = u8('{}[]":,\n 0123456789-.eEtruefalsnl\\abc');
    for (let i = 0; i < 3000; i++) {
      let frame: Uint8Array;
      if (i % 3 === 0) {
        frame = new Uint8Array(Math.floor(rnd() * 64));
        for (let k = 0; k < frame.length; k++) frame[k] = Math.floor(rnd() * 256);
      } else {
        frame = Uint8Array.from(seeds[i % seeds.length] as Uint8Array);
        const edits = 1 + Math.floor(rnd() * 4);
        for (let e = 0; e < edits; e++) {
          frame[Math.floor(rnd() * frame.length)] = alphabet[Math.floor(rnd() * alphabet.length)] as number;
        }
      }
      decodesOrRejectsCleanly(() => jsonCodec.decodeCommands(frame), `json fuzz #${i}`);
      decodesOrRejectsCleanly(() => jsonCodec.decodeConnectRequest(frame), `json connect fuzz #${i}`);
    }
  });
});

void describe('protobuf: malformed input', () => {
  const bad: [string, string][] = [
    ['empty frame', ''],
    ['truncated varint', '80'],
    ['truncated varint after a message', '00 ff'],
    ['declared length beyond the frame', '05 08 01'],
    ['varint longer than 5 bytes', '80 80 80 80 80 01'],
    ['length over 32 bits', 'ff ff ff ff 7f'],
    ['body with a truncated field', '02 08 ff'],
    ['nested length past the body', '04 22 05 0a 01'],
    ['invalid wire type 7', '01 0f'],
    ['end group without start', '01 0c'],
    ['field number zero', '02 00 01'],
  ];
  for (const [label, h] of bad) {
    void it(`rejects ${label}`, () => rejects(() => protobufCodec.decodeCommands(hexBytes(h)), label));
  }

  void it('rejects a malformed bare ConnectRequest and EmulationRequest', () => {
    rejects(() => protobufCodec.decodeConnectRequest(hexBytes('0a 05 41')), 'connect');
    rejects(() => decodeEmulationRequest(hexBytes('1a ff ff')), 'emulation');
  });

  void it('fuzz: random and mutated frames never throw anything but ProtocolDecodeError, and never hang', () => {
    const rnd = prng(987654321);
    const seed = encodeCommands([
      {
        id: 1,
        connect: {
          token: 't',
          data: u8('{}'),
          subs: { c: { recover: true, offset: 7 } },
          headers: { a: 'b' },
        },
      },
      {
        id: 2,
        subscribe: {
          channel: 'c',
          tf: { op: 'and', nodes: [{ key: 'k', cmp: 'in', vals: ['x'] }] },
          flag: 1,
        },
      },
      { id: 3, history: { channel: 'c', since: { offset: 2, epoch: 'e' }, limit: 3 } },
      {},
    ]);
    const started = Date.now();
    for (let i = 0; i < 5000; i++) {
      let frame: Uint8Array;
      if (i % 2 === 0) {
        frame = new Uint8Array(Math.floor(rnd() * 96));
        for (let k = 0; k < frame.length; k++) frame[k] = Math.floor(rnd() * 256);
      } else {
        frame = Uint8Array.from(seed);
        const edits = 1 + Math.floor(rnd() * 4);
        for (let e = 0; e < edits; e++) frame[Math.floor(rnd() * frame.length)] = Math.floor(rnd() * 256);
        if (rnd() < 0.3) frame = frame.subarray(0, Math.floor(rnd() * frame.length));
      }
      decodesOrRejectsCleanly(() => protobufCodec.decodeCommands(frame), `protobuf fuzz #${i}`);
      decodesOrRejectsCleanly(() => protobufCodec.decodeConnectRequest(frame), `protobuf connect fuzz #${i}`);
    }
    assert.ok(Date.now() - started < 10_000, 'fuzz loop finished quickly');
  });

  void it('rejects deeply nested filters without overflowing the stack', () => {
    // 20000 levels of tf.nodes[0]: protobufjs's recursion limit must turn this into a decode error.
    let inner: Uint8Array = new Uint8Array(0);
    for (let d = 0; d < 20000; d++) {
      const lenBytes = varint(inner.length);
      const next = new Uint8Array(1 + lenBytes.length + inner.length);
      next[0] = 0x32; // FilterNode.nodes (6, length-delimited)
      next.set(lenBytes, 1);
      next.set(inner, 1 + lenBytes.length);
      inner = next;
    }
    const tf = Uint8Array.from([0x6a, ...varint(inner.length), ...inner]); // SubscribeRequest.tf (13)
    const sub = Uint8Array.from([0x2a, ...varint(tf.length), ...tf]); // Command.subscribe (5)
    const frame = Uint8Array.from([...varint(sub.length), ...sub]);
    rejects(() => protobufCodec.decodeCommands(frame), 'deep nesting');
  });
});

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
