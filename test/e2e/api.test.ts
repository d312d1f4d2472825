/**
 * Server HTTP API: every method through cent.js (and fetch where cent.js has no helper),
 * reaching live SDK clients; batch; the legacy endpoint via cent.js pipeline; authentication
 * variants; error object and transport error mode; bad bodies.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import {
  SDK_BUILDS,
  apiClient,
  apiPost,
  connectClient,
  record,
  waitEvent,
  type SdkClient,
} from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { CentMethods } from 'cent.js';

type Build = (typeof SDK_BUILDS)[number];

async function connected(build: Build, gyre: RunningGyre, t: Cleanup, user: string) {
  const c: SdkClient = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: user }) }, t);
  const log = record(c);
  const { client } = await connectClient(c);
  return { c, log, client };
}

const errorCode = (json: unknown): number | undefined => (json as { error?: { code: number } }).error?.code;

void describe('server API', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: standardConfig() });
  });
  const api = () => apiClient(gyre.apiUrl, API_KEY);
  const post = (method: string, body: unknown, headers: Record<string, string> = { 'X-API-Key': API_KEY }) =>
    apiPost(`${gyre.apiUrl}/${method}`, body, headers);

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;

    void test(`${B} subscribe: the live client gets a server-side subscription and its publications`, async (t) => {
      const user = uniq('as');
      const { log } = await connected(build, gyre, t, user);
      const channel = `pub:${uniq('srv')}`;
      assert.deepEqual(await api().subscribe({ user, channel, data: { welcome: 1 } } as never), {});
      const subscribed = await waitEvent(log, 'subscribed', (x) => x.channel === channel);
      assert.deepEqual(decodeData(subscribed.data), { welcome: 1 });
      await api().publish({ channel, data: { via: 'api' } });
      const pub = await waitEvent(log, 'publication', (x) => x.channel === channel);
      assert.deepEqual(decodeData(pub.data), { via: 'api' });
    });

    void test(`${B} unsubscribe: the client's subscription ends with code 2000`, async (t) => {
      const user = uniq('au');
      const { c } = await connected(build, gyre, t, user);
      const channel = `pub:${uniq('u')}`;
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      await api().unsubscribe({ user, channel });
      const un = await waitEvent(log, 'unsubscribed');
      assert.equal(un.code, 2000);
    });

    void test(`${B} disconnect: default 3503 is terminal; custom code and reason reach the client`, async (t) => {
      const user = uniq('ad');
      const { log } = await connected(build, gyre, t, user);
      await api().disconnect({ user });
      const d = await waitEvent(log, 'disconnected');
      assert.equal(d.code, 3503);
      const user2 = uniq('ad');
      const second = await connected(build, gyre, t, user2);
      const res = await post('disconnect', { user: user2, disconnect: { code: 4501, reason: 'go away' } });
      assert.deepEqual(res.json, { result: {} });
      const d2 = await waitEvent(second.log, 'disconnected');
      assert.deepEqual([d2.code, d2.reason], [4501, 'go away']);
    });

    void test(`${B} disconnect by client id keeps the user's other connections`, async (t) => {
      const user = uniq('adc');
      const one = await connected(build, gyre, t, user);
      const two = await connected(build, gyre, t, user);
      await api().disconnect({ user, client: one.client });
      await waitEvent(one.log, 'disconnected');
      assert.equal(two.c.state, 'connected');
    });

    void test(`${B} refresh with expired=true closes the connection with 3005 (reconnect)`, async (t) => {
      const user = uniq('ar');
      const { log } = await connected(build, gyre, t, user);
      assert.deepEqual((await post('refresh', { user, expired: true })).json, { result: {} });
      const ev = await waitEvent(log, 'connecting', (x) => x.code === 3005);
      assert.equal(ev.code, 3005);
    });

    void test(`${B} presence, presence_stats, channels and info reflect live clients`, async (t) => {
      const user = uniq('ap');
      const { c, client } = await connected(build, gyre, t, user);
      const channel = `hist:${uniq('pp')}`;
      const sub = c.newSubscription(channel);
      sub.subscribe();
      await sub.ready(5000);
      const presence = await api().getPresence({ channel });
      assert.deepEqual(Object.keys(presence.presence), [client]);
      assert.equal(presence.presence[client]?.user, user);
      assert.equal(presence.presence[client]?.client, client);
      assert.deepEqual(await api().getPresenceStats({ channel }), { num_clients: 1, num_users: 1 });
      const ch = await api().getChannels({ pattern: `hist:${channel.slice(5, 9)}*` });
      assert.equal(ch.channels[channel]?.num_clients, 1);
      const info = await api().getInfo();
      const node = info.nodes[0];
      assert.ok(node);
      assert.ok(node.num_clients >= 1 && node.num_users >= 1 && node.num_channels >= 1);
      assert.equal(typeof node.uid, 'string');
      assert.equal(typeof node.name, 'string');
      assert.equal(typeof node.version, 'string');
    });
  }

  void test('publish returns the stream position; history and history_remove', async () => {
    const channel = `hist:${uniq('ph')}`;
    const r1 = await api().publish({ channel, data: { n: 1 } });
    const r2 = await api().publish({ channel, data: { n: 2 } });
    assert.equal(r1.offset, 1);
    assert.equal(r2.offset, 2);
    assert.equal(r1.epoch, r2.epoch);
    assert.ok(r1.epoch);
    assert.deepEqual(await api().publish({ channel: `pub:${uniq('nh')}`, data: { n: 1 } }), {});
    const h = await api().getHistory({ channel, limit: -1 });
    assert.deepEqual(
      h.publications.map((p) => [p.data, p.offset]),
      [
        [{ n: 1 }, 1],
        [{ n: 2 }, 2],
      ],
    );
    assert.equal(h.offset, 2);
    assert.equal(h.epoch, r1.epoch);
    const rev = await api().getHistory({ channel, limit: 1, reverse: true });
    assert.deepEqual(rev.publications[0]?.data, { n: 2 });
    const since = await api().getHistory({ channel, limit: -1, since: { offset: 1, epoch: r1.epoch ?? '' } });
    assert.deepEqual(
      since.publications.map((p) => p.offset),
      [2],
    );
    const pos = await post('history', { channel });
    assert.deepEqual(pos.json, { result: { publications: [], epoch: r1.epoch, offset: 2 } });
    assert.equal(
      errorCode((await post('history', { channel, since: { offset: 1, epoch: 'wrong' }, limit: 10 })).json),
      112,
    );
    assert.deepEqual(await api().removeHistory({ channel }), {});
    const after = await api().getHistory({ channel, limit: -1 });
    assert.deepEqual(after.publications, []);
    assert.equal(after.offset, 2);
    assert.equal(errorCode((await post('history', { channel: `pub:${uniq('x')}` })).json), 108);
    assert.equal(errorCode((await post('presence', { channel: `pub:${uniq('x')}` })).json), 108);
  });

  void test('broadcast publishes to every channel, per-channel errors in responses', async (t) => {
    const user = uniq('bc');
    const { c } = await connected(SDK_BUILDS[0], gyre, t, user);
    const chans = [`pub:${uniq('b')}`, `pub:${uniq('b')}`];
    const logs = [];
    for (const ch of chans) {
      const s = c.newSubscription(ch);
      logs.push(record(s));
      s.subscribe();
      await s.ready(5000);
    }
    const res = await post('broadcast', { channels: [...chans, 'nosuchns:x'], data: { b: 1 } });
    const responses = (res.json as { result: { responses: { error?: { code: number } }[] } }).result
      .responses;
    assert.equal(responses.length, 3);
    assert.equal(responses[0]?.error, undefined);
    assert.equal(responses[1]?.error, undefined);
    assert.equal(responses[2]?.error?.code, 102);
    for (const l of logs) assert.deepEqual((await waitEvent(l, 'publication')).data, { b: 1 });
    assert.equal(errorCode((await post('broadcast', { channels: [], data: { b: 1 } })).json), 107);
  });

  void test('batch runs commands in order and reports errors per command', async () => {
    const channel = `hist:${uniq('batch')}`;
    const res = await post('batch', {
      commands: [
        { publish: { channel, data: { a: 1 } } },
        { publish: { channel: 'nosuchns:x', data: { a: 1 } } },
        { history: { channel, limit: -1 } },
        { presence_stats: { channel } },
        { nosuchmethod: {} },
      ],
    });
    assert.equal(res.status, 200);
    const replies = (res.json as { replies: Record<string, unknown>[] }).replies;
    assert.equal(replies.length, 5);
    assert.deepEqual(Object.keys(replies[0] ?? {}), ['publish']);
    assert.equal(errorCode(replies[1]), 102);
    const hist = replies[2]?.['history'] as { publications: { data: unknown }[] };
    assert.deepEqual(
      hist.publications.map((p) => p.data),
      [{ a: 1 }],
    );
    assert.deepEqual(replies[3]?.['presence_stats'], { num_clients: 0, num_users: 0 });
    assert.equal(errorCode(replies[4]), 104);
    const par = await post('batch', { parallel: true, commands: [{ info: {} }, { channels: {} }] });
    const pr = (par.json as { replies: Record<string, unknown>[] }).replies;
    assert.ok(pr[0]?.['info'] && pr[1]?.['channels']);
  });

  void test('legacy POST /api: cent.js pipeline and numeric method ids', async (t) => {
    const channel = `hist:${uniq('pl')}`;
    const { c } = await connected(SDK_BUILDS[0], gyre, t, uniq('pl'));
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const results = await api().pipeline([
      { method: CentMethods.Publish, params: { channel, data: { p: 1 } } },
      { method: CentMethods.PresenceStats, params: { channel } },
      { method: CentMethods.History, params: { channel, limit: -1 } },
    ]);
    assert.equal(results.length, 3);
    assert.equal((results[0] as { offset?: number }).offset, 1);
    assert.deepEqual(results[1], { num_clients: 1, num_users: 1 });
    assert.equal((results[2] as { publications: unknown[] }).publications.length, 1);
    assert.deepEqual((await waitEvent(log, 'publication')).data, { p: 1 });
    const raw = await apiPost(
      gyre.apiUrl,
      `{"id":7,"method":5,"params":{"channel":"${channel}"}}\n{"method":"INFO","params":{}}`,
      {
        'X-API-Key': API_KEY,
      },
    );
    assert.equal(raw.status, 200);
    const lines = raw.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.['id'], 7);
    assert.deepEqual(lines[0]?.['result'], { num_clients: 1, num_users: 1 });
    assert.ok((lines[1]?.['result'] as { nodes: unknown[] }).nodes.length >= 1);
    const unknown = await apiPost(gyre.apiUrl, '{"method":"no_such_method","params":{}}', {
      'X-API-Key': API_KEY,
    });
    assert.equal(unknown.status, 400);
    const empty = await apiPost(gyre.apiUrl, '', { 'X-API-Key': API_KEY });
    assert.equal(empty.status, 400);
  });

  void test('API key: X-API-Key, Authorization apikey, ?api_key= accepted; wrong or missing key 401', async () => {
    const body = { channel: `pub:${uniq('k')}`, data: { k: 1 } };
    const url = `${gyre.apiUrl}/publish`;
    assert.equal((await apiPost(url, body, { 'X-API-Key': API_KEY })).status, 200);
    assert.equal((await apiPost(url, body, { Authorization: `apikey ${API_KEY}` })).status, 200);
    assert.equal((await apiPost(url, body, { Authorization: `APIKEY ${API_KEY}` })).status, 200);
    assert.equal((await apiPost(`${url}?api_key=${API_KEY}`, body)).status, 200);
    assert.equal((await apiPost(url, body, { 'X-API-Key': 'wrong' })).status, 401);
    assert.equal((await apiPost(url, body, { Authorization: 'apikey wrong' })).status, 401);
    assert.equal((await apiPost(`${url}?api_key=wrong`, body)).status, 401);
    assert.equal((await apiPost(url, body)).status, 401);
    await assert.rejects(apiClient(gyre.apiUrl, 'wrong').publish(body));
  });

  void test('error object in a 200 body; transport error mode maps status and returns the bare error', async () => {
    const res = await post('publish', { channel: 'nosuchns:x', data: {} });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type')?.startsWith('application/json'), true);
    assert.deepEqual(res.json, { error: { code: 102, message: 'unknown channel' } });
    const tr = await post(
      'publish',
      { channel: 'nosuchns:x', data: {} },
      {
        'X-API-Key': API_KEY,
        'X-Centrifugo-Error-Mode': 'transport',
      },
    );
    assert.equal(tr.status, 404);
    assert.deepEqual(tr.json, { code: 102, message: 'unknown channel' });
    const bad = await post(
      'publish',
      { channel: '', data: {} },
      { 'X-API-Key': API_KEY, 'X-Centrifugo-Error-Mode': 'transport' },
    );
    assert.equal(bad.status, 400);
    assert.equal((bad.json as { code: number }).code, 107);
  });

  void test('bad input: invalid JSON or wrong types 400, empty channel 107, GET 405, unknown method 404', async () => {
    assert.equal((await post('publish', '{not json')).status, 400);
    assert.equal((await post('publish', { channel: 123, data: {} })).status, 400);
    assert.equal(errorCode((await post('publish', { channel: '', data: {} })).json), 107);
    assert.equal(errorCode((await post('publish', { data: { a: 1 } })).json), 107);
    const get = await fetch(`${gyre.apiUrl}/publish`, { headers: { 'X-API-Key': API_KEY } });
    assert.equal(get.status, 405);
    assert.equal((await post('no_such_method', {})).status, 404);
    assert.equal(errorCode((await post('rpc', { method: 'nope', params: {} })).json), 104);
    // field names match case-insensitively, unknown fields are ignored
    const ci = await post('publish', { Channel: `pub:${uniq('ci')}`, DATA: { a: 1 }, extra: true });
    assert.deepEqual(ci.json, { result: {} });
    // the server is still fine
    assert.equal((await post('info', {})).status, 200);
  });

  void test('b64data is delivered as the payload', async (t) => {
    const { c } = await connected(SDK_BUILDS[0], gyre, t, uniq('b64'));
    const channel = `pub:${uniq('b64')}`;
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const res = await post('publish', { channel, b64data: Buffer.from('{"b64":true}').toString('base64') });
    assert.deepEqual(res.json, { result: {} });
    assert.deepEqual((await waitEvent(log, 'publication')).data, { b64: true });
  });
});

void describe('server API: insecure and global transport error mode', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({ http_api: { key: '', insecure: true, error_mode: 'transport' } }),
    });
  });

  void test('http_api.insecure accepts requests without a key (cent.js without apiKey works)', async () => {
    const res = await apiPost(`${gyre.apiUrl}/publish`, { channel: `pub:${uniq('i')}`, data: { a: 1 } });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { result: {} });
    const info = await apiClient(gyre.apiUrl).getInfo();
    assert.equal(info.nodes.length, 1);
  });

  void test('http_api.error_mode=transport applies to every request; batch is never transformed', async () => {
    const res = await apiPost(`${gyre.apiUrl}/publish`, { channel: 'nosuchns:x', data: {} });
    assert.equal(res.status, 404);
    assert.deepEqual(res.json, { code: 102, message: 'unknown channel' });
    const batch = await apiPost(`${gyre.apiUrl}/batch`, {
      commands: [{ publish: { channel: 'nosuchns:x', data: {} } }],
    });
    assert.equal(batch.status, 200);
    assert.equal(errorCode((batch.json as { replies: unknown[] }).replies[0]), 102);
  });
});

void describe('server API: empty key', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: standardConfig({ http_api: { key: '' } }) });
  });

  void test('with no key configured and not insecure, every request is 401', async () => {
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': '' })).status, 401);
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': 'anything' })).status, 401);
  });
});
