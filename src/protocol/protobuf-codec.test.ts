import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge/build/protobuf';
import {
  decodeEmulationRequest,
  decodePush,
  decodeReply,
  encodeCommands,
  protobufCodec,
} from './protobuf-codec.js';
import type { Command, Push, Reply } from './types.js';

/**
 * Golden tests against the official SDK's own protobuf encoder/decoder (centrifuge 5.8, static
 * protobufjs code generated from the real client.proto): what the SDK writes we must read, and
 * what we write the SDK must read back field for field.
 */
interface SdkProtobufCodec {
  encodeCommands(commands: object[]): Uint8Array;
  decodeReplies(data: Uint8Array): object[];
  encodeEmulationRequest(req: object): Uint8Array;
}
const sdk = (new Centrifuge('ws://127.0.0.1:1/unused') as unknown as { _codec: SdkProtobufCodec })._codec;

const enc = new TextEncoder();
const u8 = (s: string): Uint8Array => enc.encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Comparable form of a message from either side: bytes become `{ $bytes: utf8 }`, Long objects
 * numbers, message instances plain objects. Empty map and repeated fields are dropped: the SDK
 * sets them as defaults when absent.
 */
const collections = new Set([
  'tags',
  'subs',
  'headers',
  'presence',
  'publications',
  'state',
  'items',
  'vals',
  'nodes',
  'track',
  'untrack',
]);
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('utf8') };
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    if (typeof o.toNumber === 'function' && 'low' in o && 'high' in o) return (o.toNumber as () => number)();
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (collections.has(k) && typeof x === 'object' && x !== null && Object.keys(x).length === 0) continue;
      out[k] = norm(x);
    }
    return out;
  }
  return v;
}

void describe('protobuf: commands written by the SDK', () => {
  void it('decodes the captured 5.8.0 connect frame from the spec', () => {
    const frame = Buffer.from('0f080122 0b0a0154 12026869 22026a73'.replace(/ /g, ''), 'hex');
    const cmds = protobufCodec.decodeCommands(frame);
    assert.deepEqual(norm(cmds), [{ id: 1, connect: { token: 'T', data: { $bytes: 'hi' }, name: 'js' } }]);
    // and the SDK still writes exactly those bytes
    assert.equal(
      hex(sdk.encodeCommands([{ id: 1, connect: { token: 'T', data: u8('hi'), name: 'js' } }])),
      hex(frame),
    );
  });

  const cases: [string, Command][] = [
    [
      'connect with token, data, subs and headers',
      {
        id: 1,
        connect: {
          token: 'jwt.token.x',
          data: u8('{"a":1}'),
          subs: {
            '#42': { recover: true, offset: 17, epoch: 'ep' },
            news: { recover: true, offset: 2 ** 40 + 3 },
          },
          name: 'js',
          version: '1.2.3',
          headers: { Authorization: 'Bearer x', 'X-Y': 'z' },
        },
      },
    ],
    [
      'subscribe with recovery, positioning, join/leave, delta, filter and flag',
      {
        id: 2,
        subscribe: {
          channel: 'news:1',
          token: 'subtok',
          recover: true,
          epoch: 'abc',
          offset: 5,
          data: u8('{"q":1}'),
          positioned: true,
          recoverable: true,
          join_leave: true,
          delta: 'fossil',
          tf: {
            op: 'and',
            nodes: [
              { key: 'ticker', cmp: 'eq', val: 'GOOG' },
              { op: 'not', nodes: [{ key: 'tier', cmp: 'in', vals: ['a', 'b'] }] },
            ],
          },
          flag: 3,
        },
      },
    ],
    [
      'map subscribe state page',
      { id: 3, subscribe: { channel: 'm', type: 1, phase: 2, cursor: 'c1', limit: 100, asc: true, flag: 1 } },
    ],
    ['publish', { id: 4, publish: { channel: 'chat', data: u8('{"text":"hi"}') } }],
    ['map publish removal', { id: 5, publish: { channel: 'm', type: 1, key: 'k', removed: true } }],
    ['rpc', { id: 6, rpc: { method: 'getUser', data: u8('{"id":7}') } }],
    [
      'history with since, limit and reverse',
      { id: 7, history: { channel: 'h', limit: 10, since: { offset: 3, epoch: 'e' }, reverse: true } },
    ],
    ['refresh', { id: 8, refresh: { token: 'newtoken' } }],
    ['sub_refresh', { id: 9, sub_refresh: { channel: 'news', token: 'subtok2' } }],
    [
      'sub_refresh shared-poll track',
      {
        id: 10,
        sub_refresh: {
          channel: 'sp',
          type: 1,
          track: [{ signature: '1:2:ab', items: [{ key: 'a', version: 4 }, { key: 'b' }] }],
          untrack: ['c'],
        },
      },
    ],
    ['unsubscribe', { id: 11, unsubscribe: { channel: 'news' } }],
    ['presence', { id: 12, presence: { channel: 'p' } }],
    ['presence_stats', { id: 13, presence_stats: { channel: 'p' } }],
    ['send (no id)', { send: { data: u8('"fire"') } }],
  ];

  for (const [name, cmd] of cases) {
    void it(`decodes ${name}`, () => {
      const got = protobufCodec.decodeCommands(sdk.encodeCommands([cmd]));
      assert.deepEqual(norm(got), [norm(cmd)]);
    });
  }

  void it('decodes a pong (empty Command) as {} from a single zero byte', () => {
    const frame = sdk.encodeCommands([{}]);
    assert.equal(hex(frame), '00');
    assert.deepEqual(protobufCodec.decodeCommands(frame), [{}]);
  });

  void it('decodes several commands batched in one frame, in order', () => {
    const cmds = cases.map((c) => c[1]);
    const got = protobufCodec.decodeCommands(sdk.encodeCommands([...cmds, {}]));
    assert.deepEqual(norm(got), norm([...cmds, {}]));
  });

  void it('returns 64-bit integers as plain numbers', () => {
    const [cmd] = protobufCodec.decodeCommands(
      sdk.encodeCommands([{ id: 1, subscribe: { channel: 'c', offset: 2 ** 50 + 1, flag: 2 ** 33 } }]),
    );
    assert.equal(cmd?.subscribe?.offset, 2 ** 50 + 1);
    assert.equal(cmd?.subscribe?.flag, 2 ** 33);
    assert.ok(
      cmd?.subscribe?.data === undefined && !('epoch' in (cmd?.subscribe ?? {})),
      'absent fields are absent',
    );
  });

  void it('decodes a bare ConnectRequest and an EmulationRequest', () => {
    const cr = { token: 't', subs: { ch: { recover: true, offset: 9, epoch: 'x' } } };
    const bare = sdk.encodeCommands([{ connect: cr }]).subarray(3); // strip prefix, tag and length
    assert.deepEqual(norm(protobufCodec.decodeConnectRequest(bare)), norm(cr));
    assert.deepEqual(protobufCodec.decodeConnectRequest(new Uint8Array(0)), {});

    const inner = sdk.encodeCommands([{ id: 3, publish: { channel: 'c', data: u8('1') } }]);
    const req = decodeEmulationRequest(
      sdk.encodeEmulationRequest({ node: 'n1', session: 's1', data: inner }),
    );
    assert.equal(req.node, 'n1');
    assert.equal(req.session, 's1');
    assert.deepEqual(norm(protobufCodec.decodeCommands(req.data)), [
      { id: 3, publish: { channel: 'c', data: { $bytes: '1' } } },
    ]);
  });
});

void describe('protobuf: replies read by the SDK', () => {
  const info = { user: 'u1', client: 'c1', conn_info: u8('{"name":"A"}'), chan_info: u8('{"role":"x"}') };
  const pub = {
    data: u8('{"v":1}'),
    info,
    offset: 2 ** 40 + 5,
    tags: { kind: 'news', lang: 'en' },
    time: 1_700_000_000_123,
  };
  const cases: [string, Reply][] = [
    [
      'connect result with server-side subs',
      {
        id: 1,
        connect: {
          client: 'b8f2b0b4-0000-4000-8000-000000000001',
          version: '6.9.1 OSS',
          expires: true,
          ttl: 3600,
          data: u8('{"hello":true}'),
          subs: {
            '#u1': { recoverable: true, positioned: true, epoch: 'e1', offset: 12, publications: [pub] },
            announcements: {},
          },
          ping: 25,
          pong: true,
          session: 'sess',
          node: 'node1',
          time: 1_700_000_000_000,
        },
      },
    ],
    [
      'subscribe result with recovered publications',
      {
        id: 2,
        subscribe: {
          expires: true,
          ttl: 60,
          recoverable: true,
          epoch: 'abc',
          publications: [pub, { data: u8('{"v":2}'), offset: 2 ** 40 + 6, delta: true }],
          recovered: true,
          offset: 2 ** 40 + 6,
          positioned: true,
          data: u8('{"sub":1}'),
          was_recovering: true,
          delta: true,
        },
      },
    ],
    ['publication push with tags, offset and info', { push: { channel: 'news', pub } }],
    ['join push', { push: { channel: 'news', join: { info } } }],
    ['leave push', { push: { channel: 'news', leave: { info: { user: 'u2', client: 'c2' } } } }],
    [
      'unsubscribe push',
      { push: { channel: 'news', unsubscribe: { code: 2000, reason: 'server unsubscribe' } } },
    ],
    [
      'subscribe push',
      {
        push: {
          channel: 'srv',
          subscribe: { recoverable: true, epoch: 'e', offset: 3, positioned: true, data: u8('[1]') },
        },
      },
    ],
    ['disconnect push', { push: { disconnect: { code: 3001, reason: 'shutdown' } } }],
    ['refresh push', { push: { refresh: { expires: true, ttl: 120 } } }],
    ['message push', { push: { message: { data: u8('"m"') } } }],
    ['error reply', { id: 5, error: { code: 103, message: 'permission denied' } }],
    [
      'temporary error reply',
      { id: 6, error: { code: 100, message: 'internal server error', temporary: true } },
    ],
    ['publish result', { id: 7, publish: {} }],
    ['unsubscribe result', { id: 8, unsubscribe: {} }],
    ['presence result', { id: 9, presence: { presence: { c1: info, c2: { user: 'u2', client: 'c2' } } } }],
    ['presence stats result', { id: 10, presence_stats: { num_clients: 3, num_users: 2 } }],
    ['history result', { id: 11, history: { publications: [pub], epoch: 'ep', offset: 2 ** 40 + 5 } }],
    ['rpc result', { id: 12, rpc: { data: u8('{"ok":true}') } }],
    ['refresh result', { id: 13, refresh: { expires: true, ttl: 3600 } }],
    [
      'sub_refresh result',
      { id: 14, sub_refresh: { expires: true, ttl: 30, items: [{ data: u8('1'), key: 'k', version: 2 }] } },
    ],
  ];

  for (const [name, reply] of cases) {
    void it(`encodes ${name}`, () => {
      const frame = protobufCodec.joinFrame([protobufCodec.encodeReply(reply)]);
      assert.deepEqual(norm(sdk.decodeReplies(frame)), [norm(reply)]);
      assert.deepEqual(norm(decodeReply(protobufCodec.encodeReply(reply))), norm(reply), 'own round trip');
    });
  }

  void it('encodes a ping as a zero-length message: a single 0x00 on the wire', () => {
    const msg = protobufCodec.encodeReply({});
    assert.equal(msg.length, 0);
    const frame = protobufCodec.joinFrame([msg]);
    assert.equal(hex(frame), '00');
    assert.deepEqual(norm(sdk.decodeReplies(frame)), [{}]);
  });

  void it('the SDK splits many coalesced replies from one frame in order', () => {
    const replies = [...cases.map((c) => c[1]), {}];
    const frame = protobufCodec.joinFrame(replies.map((r) => protobufCodec.encodeReply(r)));
    assert.deepEqual(norm(sdk.decodeReplies(frame)), norm(replies));
  });

  void it('omits zero values on the wire', () => {
    const a = protobufCodec.encodeReply({ id: 1, subscribe: { recoverable: false, offset: 0, epoch: '' } });
    const b = protobufCodec.encodeReply({ id: 1, subscribe: {} });
    assert.equal(hex(a), hex(b));
  });

  void it('a bare Push equals the push field of a Reply (uni transports)', () => {
    const p: Push = { channel: 'news', pub };
    const bare = protobufCodec.encodePush(p);
    const wrapped = protobufCodec.encodeReply({ push: p });
    assert.equal(hex(wrapped), hex(Buffer.concat([Buffer.from([0x22]), protobufCodec.joinFrame([bare])])));
    assert.deepEqual(norm(decodePush(bare)), norm(p));
  });

  void it('encodeCommands produces frames the codec reads back', () => {
    const cmds: Command[] = [{ id: 1, connect: { token: 't' } }, {}];
    assert.equal(hex(encodeCommands(cmds)), hex(sdk.encodeCommands(cmds)));
  });
});
