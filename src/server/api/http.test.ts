import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CentClient, CentException, CentMethods } from 'cent.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { connectClient, post, startTestServer } from '../test-server.js';

const KEY = { 'X-API-Key': 'test-key' };

describe('HTTP API authentication', () => {
  it('accepts the key in X-API-Key, Authorization: apikey and ?api_key=, else 401 with an empty body', async (t) => {
    const s = await startTestServer(t);
    const body = { channel: 'c', data: {} };
    assert.equal((await post(s.base, '/api/publish', body, { 'X-API-Key': 'test-key' })).status, 200);
    assert.equal(
      (await post(s.base, '/api/publish', body, { Authorization: 'apikey test-key' })).status,
      200,
    );
    assert.equal(
      (await post(s.base, '/api/publish', body, { Authorization: 'ApiKey  test-key' })).status,
      200,
    );
    assert.equal((await post(s.base, '/api/publish?api_key=test-key', body, {})).status, 200);
    assert.equal(
      (await post(s.base, '/api/publish?api_key=test-key', body, { 'X-API-Key': 'bad' })).status,
      200,
    );
    for (const headers of [
      {},
      { 'X-API-Key': 'bad' },
      { Authorization: 'apikey bad' },
      { Authorization: 'bearer test-key' },
    ]) {
      const r = await post(s.base, '/api/publish', body, headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.text, '');
    }
    // X-API-Key present (even wrong) ⇒ Authorization is not consulted.
    const r = await post(s.base, '/api/publish', body, {
      'X-API-Key': 'bad',
      Authorization: 'apikey test-key',
    });
    assert.equal(r.status, 401);
    assert.equal((await post(s.base, '/api', '{"method":"info","params":{}}', {})).status, 401);
  });

  it('rejects everything when no key is configured, and accepts everything when insecure', async (t) => {
    const noKey = await startTestServer(t, (c) => {
      c.http_api.key = '';
    });
    assert.equal((await post(noKey.base, '/api/info', {}, { 'X-API-Key': '' })).status, 401);
    const insecure = await startTestServer(t, (c) => {
      c.http_api.key = '';
      c.http_api.insecure = true;
    });
    assert.equal((await post(insecure.base, '/api/info', {}, {})).status, 200);
    assert.equal((await post(insecure.base, '/api/info', {}, { 'X-API-Key': 'undefined' })).status, 200);
  });

  it('answers 405 to non-POST methods and 404 to unknown methods', async (t) => {
    const s = await startTestServer(t);
    const get = await fetch(`${s.base}/api/publish`, { headers: KEY });
    assert.equal(get.status, 405);
    assert.equal(await get.text(), '');
    const unknown = await post(s.base, '/api/nope', {});
    assert.equal(unknown.status, 404);
    assert.equal((await post(s.base, '/api/connections', {})).status, 404);
  });
});

describe('HTTP API request decoding', () => {
  it('answers 400 to bad JSON, an empty body, a non-object body and wrong field types', async (t) => {
    const s = await startTestServer(t);
    for (const body of [
      '{',
      '',
      '[1]',
      '"x"',
      '{"channel":5}',
      '{"data":{},"channel":"c","skip_history":"yes"}',
    ]) {
      const r = await post(s.base, '/api/publish', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.text, 'Bad Request\n');
    }
    assert.equal((await post(s.base, '/api/history', '{"channel":"c","limit":"1"}')).status, 400);
    assert.equal((await post(s.base, '/api/history', '{"channel":"c","limit":1.5}')).status, 400);
    assert.equal((await post(s.base, '/api/broadcast', '{"channels":"c"}')).status, 400);
  });

  it('matches field names case-insensitively and ignores unknown fields', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.channel.without_namespace.history_size = 10;
      c.channel.without_namespace.history_ttl = 60000;
    });
    const r = await post(s.base, '/api/publish', '{"Channel":"c","DATA":{"a":1},"whatever":true}');
    assert.equal(r.status, 200);
    assert.deepEqual((r.json() as { result: { offset: number } }).result.offset, 1);
  });

  it('a JSON null body decodes to zero values (missing channel ⇒ 107)', async (t) => {
    const s = await startTestServer(t);
    assert.deepEqual((await post(s.base, '/api/publish', 'null')).json(), {
      error: { code: 107, message: 'bad request' },
    });
  });
});

describe('HTTP API methods', () => {
  const history = (c: import('../config/index.js').Config): void => {
    c.channel.without_namespace.history_size = 10;
    c.channel.without_namespace.history_ttl = 300000;
    c.channel.without_namespace.presence = true;
    c.channel.namespaces.push({
      ...c.channel.without_namespace,
      name: 'plain',
      history_size: 0,
      history_ttl: 0,
      presence: false,
    });
    c.channel.namespaces.push({
      ...c.channel.without_namespace,
      name: 'obj',
      publication_data_format: 'json_object',
    });
    c.channel.namespaces.push({
      ...c.channel.without_namespace,
      name: 'bin',
      publication_data_format: 'binary',
    });
  };

  it('publish: validation, data forms, result fields and options', async (t) => {
    const s = await startTestServer(t, history);
    const err = (code: number, message: string): unknown => ({ error: { code, message } });
    assert.deepEqual((await post(s.base, '/api/publish', { data: {} })).json(), err(107, 'bad request'));
    assert.deepEqual(
      (await post(s.base, '/api/publish', { channel: 'nope:x', data: {} })).json(),
      err(102, 'unknown channel'),
    );
    assert.deepEqual((await post(s.base, '/api/publish', { channel: 'c' })).json(), err(107, 'bad request'));
    assert.deepEqual(
      (await post(s.base, '/api/publish', { channel: 'c', b64data: '!!' })).json(),
      err(107, 'bad request'),
    );
    assert.deepEqual(
      (await post(s.base, '/api/publish', { channel: 'obj:c', data: [1] })).json(),
      err(107, 'bad request'),
    );
    assert.deepEqual((await post(s.base, '/api/publish', { channel: 'bin:c' })).json(), {
      result: { offset: 1, epoch: await epochOf(s.base, 'bin:c') },
    });
    assert.deepEqual((await post(s.base, '/api/publish', { channel: 'plain:c', data: 1 })).json(), {
      result: {},
    });

    const first = (
      await post(s.base, '/api/publish', {
        channel: 'c',
        data: { x: 1 },
        tags: { k: 'v' },
        idempotency_key: 'once',
      })
    ).json() as {
      result: { offset: number; epoch: string };
    };
    assert.equal(first.result.offset, 1);
    const again = (
      await post(s.base, '/api/publish', { channel: 'c', data: { x: 1 }, idempotency_key: 'once' })
    ).json();
    assert.deepEqual(again, first, 'idempotent repeat returns the first result');
    await post(s.base, '/api/publish', { channel: 'c', b64data: Buffer.from('{"y":2}').toString('base64') });
    await post(s.base, '/api/publish', { channel: 'c', data: 3, skip_history: true });
    const h = (await post(s.base, '/api/history', { channel: 'c', limit: -1 })).json() as {
      result: {
        publications: { data: unknown; offset: number; tags?: Record<string, string> }[];
        offset: number;
        epoch: string;
      };
    };
    assert.deepEqual(
      h.result.publications.map((p) => [p.data, p.offset, p.tags]),
      [
        [{ x: 1 }, 1, { k: 'v' }],
        [{ y: 2 }, 2, undefined],
      ],
    );
    assert.equal(h.result.offset, 2);
    assert.equal(h.result.epoch, first.result.epoch);
  });

  it('publish keeps the raw JSON bytes of data exactly', async (t) => {
    const s = await startTestServer(t, history);
    const client = await connectClient(s.wsUrl, ['raw']);
    t.after(() => client.ws.close());
    await post(s.base, '/api/publish', '{"channel":"raw","data":{"big":12345678901234567890,"f":1.50}}');
    const r = await post(s.base, '/api/history', { channel: 'raw', limit: 1 });
    assert.match(r.text, /"data":\{"big":12345678901234567890,"f":1.50\}/);
  });

  it('broadcast: per-channel results in order, top-level validation', async (t) => {
    const s = await startTestServer(t, history);
    assert.deepEqual((await post(s.base, '/api/broadcast', { channels: [], data: 1 })).json(), {
      error: { code: 107, message: 'bad request' },
    });
    const r = (
      await post(s.base, '/api/broadcast', { channels: ['a', 'nope:b', '', 'plain:c'], data: { z: 1 } })
    ).json();
    assert.deepEqual(r, {
      result: {
        responses: [
          { result: { offset: 1, epoch: await epochOf(s.base, 'a') } },
          { error: { code: 102, message: 'unknown channel' } },
          { error: { code: 107, message: 'bad request' } },
          { result: {} },
        ],
      },
    });
  });

  it('presence, presence_stats, history, history_remove: availability and results', async (t) => {
    const s = await startTestServer(t, history);
    const client = await connectClient(s.wsUrl, ['room']);
    t.after(() => client.ws.close());
    const p = (await post(s.base, '/api/presence', { channel: 'room' })).json() as {
      result: { presence: Record<string, unknown> };
    };
    assert.deepEqual(p.result.presence[client.clientId], { client: client.clientId, user: '' });
    assert.deepEqual((await post(s.base, '/api/presence_stats', { channel: 'room' })).json(), {
      result: { num_clients: 1, num_users: 1 },
    });
    const na = { error: { code: 108, message: 'not available' } };
    assert.deepEqual((await post(s.base, '/api/presence', { channel: 'plain:x' })).json(), na);
    assert.deepEqual((await post(s.base, '/api/presence_stats', { channel: 'plain:x' })).json(), na);
    assert.deepEqual((await post(s.base, '/api/history', { channel: 'plain:x' })).json(), na);
    assert.deepEqual((await post(s.base, '/api/history_remove', { channel: 'plain:x' })).json(), na);
    assert.deepEqual((await post(s.base, '/api/presence', {})).json(), {
      error: { code: 107, message: 'bad request' },
    });

    await post(s.base, '/api/publish', { channel: 'room', data: 1 });
    await post(s.base, '/api/publish', { channel: 'room', data: 2 });
    const h0 = (await post(s.base, '/api/history', { channel: 'room' })).json() as {
      result: { publications: unknown[]; offset: number };
    };
    assert.deepEqual(h0.result.publications, [], 'limit 0 returns only the position');
    assert.equal(h0.result.offset, 2);
    const rev = (await post(s.base, '/api/history', { channel: 'room', limit: 1, reverse: true })).json() as {
      result: { publications: { data: unknown }[] };
    };
    assert.deepEqual(
      rev.result.publications.map((x) => x.data),
      [2],
    );
    const bad = (
      await post(s.base, '/api/history', { channel: 'room', limit: -1, since: { offset: 1, epoch: 'other' } })
    ).json();
    assert.deepEqual(bad, { error: { code: 112, message: 'unrecoverable position' } });
    assert.deepEqual((await post(s.base, '/api/history_remove', { channel: 'room' })).json(), { result: {} });
    const after = (await post(s.base, '/api/history', { channel: 'room', limit: -1 })).json() as {
      result: { publications: unknown[]; offset: number };
    };
    assert.deepEqual(after.result.publications, []);
    assert.equal(after.result.offset, 2, 'stream position is kept');
  });

  it('channels with a glob pattern, info', async (t) => {
    const s = await startTestServer(t, history);
    const client = await connectClient(s.wsUrl, ['chat_1', 'chat_2', 'news']);
    t.after(() => client.ws.close());
    const all = (await post(s.base, '/api/channels', {})).json();
    assert.deepEqual(all, {
      result: {
        channels: { chat_1: { num_clients: 1 }, chat_2: { num_clients: 1 }, news: { num_clients: 1 } },
      },
    });
    const some = (await post(s.base, '/api/channels', { pattern: 'chat_*' })).json() as {
      result: { channels: object };
    };
    assert.deepEqual(Object.keys(some.result.channels).sort(), ['chat_1', 'chat_2']);
    const info = (await post(s.base, '/api/info', {})).json() as {
      result: { nodes: Record<string, unknown>[] };
    };
    assert.equal(info.result.nodes.length, 1);
    const n = info.result.nodes[0] as Record<string, unknown>;
    assert.equal(n.num_clients, 1);
    assert.equal(n.num_channels, 3);
    assert.equal(n.num_users, 1);
    assert.equal(typeof n.uid, 'string');
    assert.match(n.name as string, new RegExp(`_${s.port}$`));
  });

  it('subscribe, unsubscribe, refresh and disconnect act on live connections', async (t) => {
    const s = await startTestServer(t, history);
    const client = await connectClient(s.wsUrl);
    assert.deepEqual(
      (await post(s.base, '/api/subscribe', { user: '', channel: 'srv', data: { hi: 1 } })).json(),
      { result: {} },
    );
    await waitFor(() =>
      client.lines.some(
        (l) => (l.push as { channel?: string; subscribe?: unknown } | undefined)?.subscribe !== undefined,
      ),
    );
    const sub = client.lines.find(
      (l) => (l.push as { subscribe?: unknown } | undefined)?.subscribe !== undefined,
    )?.push as {
      channel: string;
      subscribe: { data: unknown };
    };
    assert.equal(sub.channel, 'srv');
    assert.deepEqual(sub.subscribe.data, { hi: 1 });
    assert.deepEqual((await post(s.base, '/api/subscribe', { channel: '' })).json(), {
      error: { code: 107, message: 'bad request' },
    });
    assert.deepEqual((await post(s.base, '/api/subscribe', { channel: 'nope:1' })).json(), {
      error: { code: 102, message: 'unknown channel' },
    });

    assert.deepEqual((await post(s.base, '/api/unsubscribe', { user: '', channel: 'srv' })).json(), {
      result: {},
    });
    await waitFor(() =>
      client.lines.some((l) => (l.push as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined),
    );
    assert.deepEqual((await post(s.base, '/api/unsubscribe', { channel: 'nope:1' })).json(), {
      error: { code: 102, message: 'unknown channel' },
    });

    assert.deepEqual(
      (
        await post(s.base, '/api/refresh', { user: '', expire_at: Math.floor(Date.now() / 1000) + 3600 })
      ).json(),
      { result: {} },
    );

    const closed = new Promise<number>((r) => client.ws.once('close', (code: number) => r(code)));
    assert.deepEqual(
      (await post(s.base, '/api/disconnect', { user: '', disconnect: { code: 4501, reason: 'bye' } })).json(),
      { result: {} },
    );
    assert.equal(await closed, 4501);

    const other = await connectClient(s.wsUrl);
    const kept = await connectClient(s.wsUrl);
    const otherClosed = new Promise<number>((r) => other.ws.once('close', (code: number) => r(code)));
    await post(s.base, '/api/disconnect', { user: '', whitelist: [kept.clientId] });
    assert.equal(await otherClosed, 3503);
    assert.equal(kept.ws.readyState, kept.ws.OPEN);
    kept.ws.close();
  });

  it('rpc: method required, unknown ⇒ 104, extensions answer raw data', async (t) => {
    const s = await startTestServer(t, () => {}, {
      rpcExtensions: new Map([['echo', async (params: Uint8Array | undefined) => params]]),
    });
    assert.deepEqual((await post(s.base, '/api/rpc', {})).json(), {
      error: { code: 107, message: 'bad request' },
    });
    assert.deepEqual((await post(s.base, '/api/rpc', { method: 'x' })).json(), {
      error: { code: 104, message: 'not found' },
    });
    assert.deepEqual((await post(s.base, '/api/rpc', { method: 'echo', params: { a: [1] } })).json(), {
      result: { data: { a: [1] } },
    });
  });

  it('batch: sequential and parallel replies in order, null ⇒ 107, unknown ⇒ 104', async (t) => {
    const s = await startTestServer(t, history);
    const commands = [
      { publish: { channel: 'b', data: 1 } },
      { publish: { channel: 'b', data: 2 } },
      null,
      { nope: {} },
      { publish: { channel: 'nope:x', data: 1 } },
      { history: { channel: 'b', limit: -1 } },
    ];
    const seq = (await post(s.base, '/api/batch', { commands })).json() as {
      replies: Record<string, unknown>[];
    };
    const epoch = await epochOf(s.base, 'b');
    assert.deepEqual(seq.replies.slice(0, 5), [
      { publish: { offset: 1, epoch } },
      { publish: { offset: 2, epoch } },
      { error: { code: 107, message: 'bad request' } },
      { error: { code: 104, message: 'not found' } },
      { error: { code: 102, message: 'unknown channel' } },
    ]);
    const h = seq.replies[5] as { history: { publications: { data: unknown }[] } };
    assert.deepEqual(
      h.history.publications.map((p) => p.data),
      [1, 2],
      'sequential: history sees both publishes',
    );

    const par = (
      await post(s.base, '/api/batch', {
        parallel: true,
        commands: [
          { info: {} },
          { publish: { channel: 'b', data: 3 } },
          { presence_stats: { channel: 'b' } },
        ],
      })
    ).json() as {
      replies: Record<string, unknown>[];
    };
    assert.deepEqual(Object.keys(par.replies[0] as object), ['info']);
    assert.deepEqual(par.replies[1], { publish: { offset: 3, epoch } });
    assert.deepEqual(par.replies[2], { presence_stats: { num_clients: 0, num_users: 0 } });
  });
});

describe('HTTP API params validation table', () => {
  const bad = { error: { code: 107, message: 'bad request' } };
  const cases: [string, unknown, number, unknown][] = [
    ['publish', { data: 1 }, 200, bad],
    ['broadcast', { data: 1 }, 200, bad],
    ['subscribe', { user: 'u' }, 200, bad],
    ['presence', {}, 200, bad],
    ['presence_stats', {}, 200, bad],
    ['history', {}, 200, bad],
    ['history_remove', {}, 200, bad],
    ['rpc', {}, 200, bad],
    ['channels', { pattern: '[' }, 200, bad],
    ['unsubscribe', { user: 'u' }, 200, { result: {} }],
    ['disconnect', { user: 'u' }, 200, { result: {} }],
    ['refresh', { user: 'u' }, 200, { result: {} }],
    ['info', {}, 200, undefined],
    ['publish', '{"channel":["c"]}', 400, undefined],
    ['broadcast', '{"channels":[1]}', 400, undefined],
    ['subscribe', '{"channel":"c","expire_at":"soon"}', 400, undefined],
    ['subscribe', '{"channel":"c","override":{"presence":true}}', 400, undefined],
    ['unsubscribe', '{"user":1}', 400, undefined],
    ['disconnect', '{"disconnect":{"code":-1}}', 400, undefined],
    ['disconnect', '{"whitelist":"c1"}', 400, undefined],
    ['refresh', '{"expired":"yes"}', 400, undefined],
    ['presence', '{"channel":{}}', 400, undefined],
    ['presence_stats', '[]', 400, undefined],
    ['history', '{"channel":"c","since":{"offset":-1}}', 400, undefined],
    ['history_remove', '{"channel":true}', 400, undefined],
    ['channels', '{"pattern":1}', 400, undefined],
    ['rpc', '{"method":1}', 400, undefined],
    ['info', '{', 400, undefined],
    ['batch', '{"commands":{}}', 400, undefined],
    ['batch', '{"commands":[{"publish":{"channel":1}}]}', 400, undefined],
  ];
  it('answers each method as Centrifugo does for missing and mistyped params', async (t) => {
    const s = await startTestServer(t);
    for (const [method, body, status, json] of cases) {
      const r = await post(s.base, `/api/${method}`, body);
      const label = `${method} ${typeof body === 'string' ? body : JSON.stringify(body)}`;
      assert.equal(r.status, status, label);
      if (json !== undefined) assert.deepEqual(r.json(), json, label);
    }
  });
});

describe('HTTP API transport error mode', () => {
  it('maps errors to HTTP statuses with the bare error body when the header asks for it', async (t) => {
    const s = await startTestServer(t);
    const mode = { ...KEY, 'X-Centrifugo-Error-Mode': 'transport' };
    const r102 = await post(s.base, '/api/publish', { channel: 'nope:x', data: 1 }, mode);
    assert.equal(r102.status, 404);
    assert.deepEqual(r102.json(), { code: 102, message: 'unknown channel' });
    const r107 = await post(s.base, '/api/publish', { data: 1 }, mode);
    assert.equal(r107.status, 400);
    const r108 = await post(s.base, '/api/history', { channel: 'x' }, mode);
    assert.equal(r108.status, 400);
    assert.deepEqual(r108.json(), { code: 108, message: 'not available' });
    const r104 = await post(s.base, '/api/rpc', { method: 'x' }, mode);
    assert.equal(r104.status, 404);
    const ok = await post(s.base, '/api/publish', { channel: 'x', data: 1 }, mode);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { result: {} });
    // batch is never transformed, broadcast only for top-level errors.
    const b = await post(
      s.base,
      '/api/batch',
      { commands: [{ publish: { channel: 'nope:x', data: 1 } }] },
      mode,
    );
    assert.equal(b.status, 200);
    const bc = await post(s.base, '/api/broadcast', { channels: ['nope:x'], data: 1 }, mode);
    assert.equal(bc.status, 200);
    assert.deepEqual(bc.json(), {
      result: { responses: [{ error: { code: 102, message: 'unknown channel' } }] },
    });
    assert.equal((await post(s.base, '/api/broadcast', { channels: [], data: 1 }, mode)).status, 400);
  });

  it('http_api.error_mode: transport applies to every request', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.http_api.error_mode = 'transport';
    });
    const r = await post(s.base, '/api/presence', { channel: 'x' });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json(), { code: 108, message: 'not available' });
  });
});

describe('legacy /api endpoint', () => {
  it('runs newline-separated commands and answers newline-joined replies', async (t) => {
    const s = await startTestServer(t);
    const body = [
      '{"id":1,"method":"publish","params":{"channel":"l","data":{"a":1}}}',
      '{"method":"PRESENCE_STATS","params":{"channel":"l"}}',
      '{"id":3,"method":9,"params":{}}',
      '{"id":4,"method":"history"}',
      '{"id":5,"method":"connections","params":{}}',
      '{"id":6,"method":"info"}',
      '{"id":7,"method":"publish","params":{"channel":5}}',
    ].join('\n');
    const r = await post(s.base, '/api', body);
    assert.equal(r.status, 200);
    const lines = r.text.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 7);
    assert.deepEqual(lines[0], { id: 1, result: {} });
    assert.deepEqual(lines[1], { error: { code: 108, message: 'not available' } });
    assert.equal((lines[2]?.result as { nodes: unknown[] }).nodes.length, 1);
    assert.deepEqual(lines[3], { id: 4, error: { code: 107, message: 'bad request' } });
    assert.deepEqual(lines[4], { id: 5, error: { code: 104, message: 'not found' } });
    assert.equal(lines[5]?.id, 6);
    assert.ok(lines[5]?.result !== undefined, 'info ignores missing params');
    assert.deepEqual(lines[6], { id: 7, error: { code: 107, message: 'bad request' } });
  });

  it('answers 400 to an empty body, bad JSON and unknown method names', async (t) => {
    const s = await startTestServer(t);
    assert.equal((await post(s.base, '/api', '')).status, 400);
    assert.equal((await post(s.base, '/api', '{"method":"publish"')).status, 400);
    assert.equal((await post(s.base, '/api', '{"method":"nope","params":{}}')).status, 400);
    assert.equal((await post(s.base, '/api', '[]')).status, 400);
  });
});

describe('cent.js against Gyre', () => {
  it('works unchanged: methods, errors and pipeline', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.channel.without_namespace.history_size = 5;
      c.channel.without_namespace.history_ttl = 60000;
      c.channel.without_namespace.presence = true;
    });
    const cent = new CentClient({ url: `${s.base}/api`, apiKey: 'test-key' });
    const client = await connectClient(s.wsUrl, ['cent']);
    t.after(() => client.ws.close());
    const pub = await cent.publish({ channel: 'cent', data: { text: 'hi' } });
    assert.equal((pub as { offset: number }).offset, 1);
    await waitFor(() => client.lines.some((l) => JSON.stringify(l).includes('"text":"hi"')));
    const hist = await cent.getHistory({ channel: 'cent', limit: 10 });
    assert.equal(hist.publications.length, 1);
    assert.equal((await cent.getPresenceStats({ channel: 'cent' })).num_clients, 1);
    assert.ok(Object.keys((await cent.getPresence({ channel: 'cent' })).presence).includes(client.clientId));
    assert.ok(Object.keys((await cent.getChannels({ pattern: '' })).channels).includes('cent'));
    assert.equal((await cent.getInfo()).nodes.length, 1);
    await cent.removeHistory({ channel: 'cent' });
    await assert.rejects(cent.publish({ channel: 'nope:x', data: { n: 1 } }), CentException);
    const results = await cent.pipeline([
      { method: CentMethods.Publish, params: { channel: 'cent', data: { n: 2 } } },
      { method: CentMethods.PresenceStats, params: { channel: 'cent' } },
    ]);
    assert.equal(results.length, 2);
    assert.deepEqual(results[1], { num_clients: 1, num_users: 1 });
  });
});

async function epochOf(base: string, channel: string): Promise<string | undefined> {
  const r = (await post(base, '/api/history', { channel })).json() as { result?: { epoch: string } };
  return r.result?.epoch;
}
