import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Centrifuge } from 'centrifuge';
import { jsonCodec } from './json-codec.js';
import { decodeJsonEmulationRequest } from './json-decode.js';
import type { Command, Reply } from './types.js';

/** The official SDK's JSON codec: `JSON.stringify` per command, `JSON.parse` per reply line. */
interface SdkJsonCodec {
  encodeCommands(commands: object[]): string;
  decodeReplies(data: string): unknown[];
}
const sdk = (new Centrifuge('ws://127.0.0.1:1/unused') as unknown as { _codec: SdkJsonCodec })._codec;

const enc = new TextEncoder();
const dec = new TextDecoder();
const u8 = (s: string): Uint8Array => enc.encode(s);
const str = (b: Uint8Array): string => dec.decode(b);
const encodeReply = (r: Reply): string => str(jsonCodec.encodeReply(r));

/** Comparable form of decoded commands: bytes fields become their JSON text. */
function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $json: str(v) };
  if (Array.isArray(v)) return v.map(norm);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = norm(x);
    return out;
  }
  return v;
}
const j = (value: unknown): { $json: string } => ({ $json: JSON.stringify(value) });

void describe('JSON: commands', () => {
  void it('decodes the captured connect + subscribe frame of the spec (§2.1)', () => {
    const frame =
      '{"connect":{"token":"TOKEN","data":{"a":1},"name":"js","version":"1.2.3","headers":{"Authorization":"Bearer x"}},"id":1}\n' +
      '{"subscribe":{"channel":"news","data":{"q":1},"positioned":true,"recoverable":true,"join_leave":true,"flag":1,"recover":true,"offset":5,"epoch":"abc","delta":"fossil"},"id":2}';
    assert.deepEqual(norm(jsonCodec.decodeCommands(u8(frame))), [
      {
        connect: {
          token: 'TOKEN',
          data: j({ a: 1 }),
          name: 'js',
          version: '1.2.3',
          headers: { Authorization: 'Bearer x' },
        },
        id: 1,
      },
      {
        subscribe: {
          channel: 'news',
          data: j({ q: 1 }),
          positioned: true,
          recoverable: true,
          join_leave: true,
          flag: 1,
          recover: true,
          offset: 5,
          epoch: 'abc',
          delta: 'fossil',
        },
        id: 2,
      },
    ]);
  });

  const sdkCommands: object[] = [
    {
      id: 1,
      connect: {
        token: 't',
        data: { a: [1, 'x'] },
        subs: { '#1': { recover: true, offset: 3, epoch: 'e' } },
        name: 'js',
      },
    },
    {
      id: 2,
      subscribe: {
        channel: 'c',
        tf: { op: 'or', nodes: [{ key: 'k', cmp: 'in', vals: ['1', '2'] }] },
        flag: 3,
      },
    },
    { id: 3, publish: { channel: 'c', data: 'plain string' } },
    { id: 4, rpc: { method: 'm', data: 42 } },
    { id: 5, history: { channel: 'c', limit: -1, since: { offset: 9, epoch: 'e' }, reverse: true } },
    { id: 6, refresh: { token: 'r' } },
    { id: 7, sub_refresh: { channel: 'c', token: 's' } },
    {
      id: 8,
      sub_refresh: {
        channel: 'sp',
        type: 1,
        track: [{ signature: 'sig', items: [{ key: 'a', version: 2 }] }],
      },
    },
    { send: { data: { fire: true } } },
    { id: 9, unsubscribe: { channel: 'c' } },
    { id: 10, presence: { channel: 'c' } },
    { id: 11, presence_stats: { channel: 'c' } },
    {},
  ];

  void it('decodes what the SDK encodes, bytes fields as the JSON text of the embedded value', () => {
    const got = jsonCodec.decodeCommands(u8(sdk.encodeCommands(sdkCommands)));
    const expected = sdkCommands.map((c) =>
      JSON.parse(JSON.stringify(c), (k, v: unknown) => (k === 'data' ? j(v) : v)),
    );
    assert.deepEqual(norm(got), expected);
  });

  void it('tolerates one trailing newline and reads {} as a pong', () => {
    assert.deepEqual(jsonCodec.decodeCommands(u8('{}\n')), [{}]);
    assert.deepEqual(jsonCodec.decodeCommands(u8('{"id":1,"presence":{"channel":"a"}}\n{}\n')), [
      { id: 1, presence: { channel: 'a' } },
      {},
    ]);
  });

  void it('decodes a pong alone the same as inside a frame, a fresh object each time', () => {
    const a = jsonCodec.decodeCommands(u8('{}'));
    const b = jsonCodec.decodeCommands(u8('{}'));
    assert.deepEqual(a, [{}]);
    assert.notEqual(a[0], b[0], 'a caller may change what it got');
    // Near misses are still decoded (or refused) as JSON.
    assert.deepEqual(jsonCodec.decodeCommands(u8('{ }')), [{}]);
    assert.throws(() => jsonCodec.decodeCommands(u8('{}\n\n')), /empty line/);
    assert.throws(() => jsonCodec.decodeCommands(u8('{}x')), /invalid JSON/);
    assert.throws(() => jsonCodec.decodeCommands(u8('{')), /invalid JSON/);
  });

  void it('treats null fields as absent and ignores unknown keys', () => {
    const [cmd] = jsonCodec.decodeCommands(
      u8('{"id":3,"publish":{"channel":"c","data":null,"x":1},"future":{"a":1}}'),
    );
    assert.deepEqual(cmd, { id: 3, publish: { channel: 'c' } });
  });

  void it('keeps a __proto__ map key as plain data', () => {
    const [cmd] = jsonCodec.decodeCommands(u8('{"id":1,"connect":{"headers":{"__proto__":"x","a":"b"}}}'));
    const headers = cmd?.connect?.headers ?? {};
    assert.deepEqual(Object.keys(headers), ['__proto__', 'a']);
    assert.equal(Object.getPrototypeOf(headers), Object.prototype);
  });
});

void describe('JSON: replies as the SDK reads them', () => {
  void it('embeds publication data as raw JSON with snake_case keys and plain numbers', () => {
    const text = encodeReply({
      push: {
        channel: 'news',
        pub: {
          data: u8('{"input":"1"}'),
          info: { user: 'u', client: 'c', conn_info: u8('{"n":1}') },
          offset: 2 ** 40,
          tags: { a: 'b' },
          time: 1_700_000_000_000,
        },
      },
    });
    assert.equal(
      text,
      '{"push":{"channel":"news","pub":{"data":{"input":"1"},"info":{"user":"u","client":"c","conn_info":{"n":1}},' +
        '"offset":1099511627776,"tags":{"a":"b"},"time":1700000000000}}}',
    );
    assert.deepEqual(sdk.decodeReplies(text), [JSON.parse(text)]);
  });

  void it('writes a connect result the SDK understands', () => {
    const reply: Reply = {
      id: 1,
      connect: {
        client: 'cid',
        version: '6.9.1 OSS',
        expires: true,
        ttl: 604407,
        ping: 25,
        pong: true,
        subs: { '#42': {}, news: { recoverable: true, epoch: 'e', offset: 4, positioned: true } },
        data: u8('{"d":1}'),
      },
    };
    assert.deepEqual(sdk.decodeReplies(encodeReply(reply)), [
      {
        id: 1,
        connect: {
          client: 'cid',
          version: '6.9.1 OSS',
          expires: true,
          ttl: 604407,
          data: { d: 1 },
          subs: { '#42': {}, news: { recoverable: true, epoch: 'e', offset: 4, positioned: true } },
          ping: 25,
          pong: true,
        },
      },
    ]);
  });

  void it('writes subscribe results, join/leave, unsubscribe, subscribe, disconnect, refresh pushes and errors', () => {
    const info = { user: 'u', client: 'c' };
    const replies: [Reply, unknown][] = [
      [
        {
          id: 2,
          subscribe: {
            recoverable: true,
            epoch: 'e',
            publications: [
              { data: u8('1'), offset: 1 },
              { data: u8('"s"'), offset: 2, delta: true },
            ],
            recovered: true,
            was_recovering: true,
            offset: 2,
            positioned: true,
          },
        },
        {
          id: 2,
          subscribe: {
            recoverable: true,
            epoch: 'e',
            publications: [
              { data: 1, offset: 1 },
              { data: 's', offset: 2, delta: true },
            ],
            recovered: true,
            offset: 2,
            positioned: true,
            was_recovering: true,
          },
        },
      ],
      [{ push: { channel: 'c', join: { info } } }, { push: { channel: 'c', join: { info } } }],
      [{ push: { channel: 'c', leave: { info } } }, { push: { channel: 'c', leave: { info } } }],
      [
        { push: { channel: 'c', unsubscribe: { code: 2000, reason: 'server unsubscribe' } } },
        { push: { channel: 'c', unsubscribe: { code: 2000, reason: 'server unsubscribe' } } },
      ],
      [{ push: { channel: 'c', subscribe: {} } }, { push: { channel: 'c', subscribe: {} } }],
      [
        { push: { disconnect: { code: 3001, reason: 'shutdown' } } },
        { push: { disconnect: { code: 3001, reason: 'shutdown' } } },
      ],
      [{ push: { refresh: { expires: true, ttl: 10 } } }, { push: { refresh: { expires: true, ttl: 10 } } }],
      [{ push: { message: { data: u8('{"m":1}') } } }, { push: { message: { data: { m: 1 } } } }],
      [
        { id: 3, error: { code: 100, message: 'internal server error', temporary: true } },
        { id: 3, error: { code: 100, message: 'internal server error', temporary: true } },
      ],
      [
        { id: 4, publish: {} },
        { id: 4, publish: {} },
      ],
      [
        { id: 5, unsubscribe: {} },
        { id: 5, unsubscribe: {} },
      ],
      [
        { id: 6, rpc: { data: u8('[1,2]') } },
        { id: 6, rpc: { data: [1, 2] } },
      ],
      [
        { id: 7, rpc: {} },
        { id: 7, rpc: {} },
      ],
      [
        { id: 8, refresh: { expires: true, ttl: 3600 } },
        { id: 8, refresh: { expires: true, ttl: 3600 } },
      ],
      [
        { id: 9, sub_refresh: { expires: true, ttl: 5, items: [{ data: u8('{}'), key: 'k', version: 3 }] } },
        { id: 9, sub_refresh: { expires: true, ttl: 5, items: [{ data: {}, key: 'k', version: 3 }] } },
      ],
    ];
    for (const [reply, expected] of replies) {
      assert.deepEqual(sdk.decodeReplies(encodeReply(reply)), [expected], JSON.stringify(expected));
    }
  });

  void it('always writes the fields the Go server never omits', () => {
    assert.equal(encodeReply({ id: 1, presence: { presence: {} } }), '{"id":1,"presence":{"presence":{}}}');
    assert.equal(
      encodeReply({ id: 2, presence: { presence: { c1: { user: '', client: 'c1' } } } }),
      '{"id":2,"presence":{"presence":{"c1":{"user":"","client":"c1"}}}}',
    );
    assert.equal(
      encodeReply({ id: 3, presence_stats: { num_clients: 0, num_users: 0 } }),
      '{"id":3,"presence_stats":{"num_clients":0,"num_users":0}}',
    );
    assert.equal(
      encodeReply({ id: 4, history: { publications: [], epoch: '', offset: 0 } }),
      '{"id":4,"history":{"publications":[],"epoch":"","offset":0}}',
    );
    assert.equal(
      encodeReply({ push: { channel: 'c', join: { info: { user: '', client: 'x' } } } }),
      '{"push":{"channel":"c","join":{"info":{"user":"","client":"x"}}}}',
    );
  });

  void it('omits zero values and empty payloads', () => {
    assert.equal(
      encodeReply({
        id: 1,
        subscribe: {
          expires: false,
          ttl: 0,
          epoch: '',
          publications: [],
          offset: 0,
          data: new Uint8Array(0),
        },
      }),
      '{"id":1,"subscribe":{}}',
    );
    assert.equal(
      encodeReply({ push: { channel: 'c', pub: { data: new Uint8Array(0), tags: {} } } }),
      '{"push":{"channel":"c","pub":{}}}',
    );
  });

  void it('strips raw CR/LF from embedded payloads so each message stays one line', () => {
    const text = encodeReply({
      push: { channel: 'c', pub: { data: u8('{\r\n  "a": 1,\n  "b": [2]\n}\n') } },
    });
    assert.equal(text, '{"push":{"channel":"c","pub":{"data":{  "a": 1,  "b": [2]}}}}');
    assert.equal(encodeReply({ id: 1, rpc: { data: u8('\n\r\n') } }), '{"id":1,"rpc":{}}');
  });

  void it('carries delta payloads as JSON strings and non-ASCII text intact', () => {
    const delta = JSON.stringify('3\n1:x');
    const text = encodeReply({ push: { channel: 'ч', pub: { data: u8(delta), delta: true } } });
    assert.deepEqual(sdk.decodeReplies(text), [
      { push: { channel: 'ч', pub: { data: '3\n1:x', delta: true } } },
    ]);
    const payload = '{"msg":"héllo 🌍","q":"\\"\\u2028"}';
    const out = encodeReply({ push: { channel: 'snow☃', pub: { data: u8(payload), key: 'ключ' } } });
    assert.deepEqual(JSON.parse(out), {
      push: { channel: 'snow☃', pub: { data: JSON.parse(payload), key: 'ключ' } },
    });
  });

  void it('quotes strings exactly as JSON.stringify does', () => {
    const tricky = [
      'plain',
      'q"uote',
      'back\\slash',
      'ctl\u0001\n\t',
      '\u2028',
      'emoji 🌍',
      'lone \ud800',
      'ü',
    ];
    for (const s of tricky) {
      const q = JSON.stringify(s);
      const text = encodeReply({ push: { channel: s, pub: { data: u8('1'), tags: { [s]: s } } } });
      assert.equal(text, `{"push":{"channel":${q},"pub":{"data":1,"tags":{${q}:${q}}}}}`);
    }
  });

  void it('writes a ping as {} and coalesced replies the SDK splits in order', () => {
    assert.equal(encodeReply({}), '{}');
    const msgs = [
      jsonCodec.encodeReply({ id: 1, publish: {} }),
      jsonCodec.encodeReply({}),
      jsonCodec.encodePush({ channel: 'c', pub: { data: u8('2') } }),
    ];
    const frame = str(jsonCodec.joinFrame(msgs));
    assert.equal(frame, '{"id":1,"publish":{}}\n{}\n{"channel":"c","pub":{"data":2}}');
    assert.deepEqual(sdk.decodeReplies(frame), [
      { id: 1, publish: {} },
      {},
      { channel: 'c', pub: { data: 2 } },
    ]);
  });

  void it('writes bare pushes for uni transports (connect push first)', () => {
    const text = str(
      jsonCodec.encodePush({
        connect: {
          client: 'c',
          version: '6.9.1 OSS',
          subs: { '#2694': {} },
          expires: true,
          ttl: 604407,
          ping: 25,
          session: 's',
        },
      }),
    );
    assert.deepEqual(JSON.parse(text), {
      connect: {
        client: 'c',
        version: '6.9.1 OSS',
        subs: { '#2694': {} },
        expires: true,
        ttl: 604407,
        ping: 25,
        session: 's',
      },
    });
    assert.equal(str(jsonCodec.encodePush({})), '{}');
  });
});

void describe('JSON: uni ConnectRequest and emulation bodies', () => {
  void it('decodes a bare ConnectRequest; null is an empty request', () => {
    assert.deepEqual(jsonCodec.decodeConnectRequest(u8('null')), {});
    const req = jsonCodec.decodeConnectRequest(
      u8('{"token":"t","subs":{"c":{"recover":true,"offset":4,"epoch":"e"}},"data":{"x":1}}'),
    );
    assert.deepEqual(norm(req), {
      token: 't',
      subs: { c: { recover: true, offset: 4, epoch: 'e' } },
      data: j({ x: 1 }),
    });
  });

  void it('decodes an emulation body whose data is a JSON string of commands', () => {
    const commands: Command[] = [{ id: 2, subscribe: { channel: 'c' } }];
    const body = JSON.stringify({ session: 's', node: 'n', data: sdk.encodeCommands(commands) });
    const req = decodeJsonEmulationRequest(u8(body));
    assert.equal(req.session, 's');
    assert.equal(req.node, 'n');
    assert.deepEqual(jsonCodec.decodeCommands(req.data), commands);
  });
});
