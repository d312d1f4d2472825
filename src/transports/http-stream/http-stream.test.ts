import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeCommands } from '../../protocol/protobuf-codec.js';
import { cmd, openStream, post, startKit, waitFor, type Kit } from '../shared/test-kit.js';

const enc = new TextEncoder();

describe('http_stream transport', () => {
  let kit: Kit;
  let endpoint: string;
  before(async () => {
    kit = await startKit();
    endpoint = `${kit.url}/connection/http_stream`;
  });
  after(() => kit.close());

  it('streams the connect reply with session and node, with the no-cache headers', async () => {
    const s = await openStream(endpoint, {
      headers: { 'Content-Type': 'application/json' },
      body: cmd({ connect: { token: 'alice' }, id: 1 }),
    });
    assert.equal(s.status, 200);
    assert.equal(s.headers['cache-control'], 'private, no-cache, no-store, must-revalidate, max-age=0');
    assert.equal(s.headers['pragma'], 'no-cache');
    assert.equal(s.headers['expire'], '0');
    assert.equal(s.headers['x-accel-buffering'], 'no');
    assert.equal(s.headers['connection'], 'keep-alive');
    const reply = await s.next((m) => m.id === 1);
    assert.equal(typeof reply.connect.client, 'string');
    assert.equal(typeof reply.connect.session, 'string');
    assert.equal(reply.connect.node, kit.node.uid);
    assert.ok(s.raw().endsWith('\n'), 'each JSON reply ends with a newline');
    s.close();
  });

  it('delivers a publication and a disconnect push, then ends the stream', async () => {
    const s = await openStream(endpoint, {
      headers: { 'Content-Type': 'application/json' },
      body: cmd({ connect: { token: 'sub:hs-news' }, id: 1 }),
    });
    const reply = await s.next((m) => m.id === 1);
    assert.ok(reply.connect.subs['hs-news']);
    await kit.node.publish('hs-news', enc.encode('{"n":1}'));
    const pub = await s.next((m) => m.push?.pub !== undefined);
    assert.equal(pub.push.channel, 'hs-news');
    assert.deepEqual(pub.push.pub.data, { n: 1 });
    await kit.node.disconnect({ user: 'u1' }, { code: 4000, reason: 'bye' });
    const d = await s.next((m) => m.push?.disconnect !== undefined);
    assert.deepEqual(d.push.disconnect, { code: 4000, reason: 'bye' });
    await waitFor(() => s.ended, 3000, 'stream end');
  });

  it('speaks Protobuf when Content-Type is application/octet-stream', async () => {
    const s = await openStream(endpoint, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: encodeCommands([{ id: 1, connect: { token: 'sub:hs-pb' } }]),
      framing: 'protobuf',
    });
    assert.equal(s.status, 200);
    const reply = await s.next((m) => m.id === 1);
    assert.equal(reply.connect.node, kit.node.uid);
    await kit.node.publish('hs-pb', enc.encode('bin'));
    const pub = await s.next((m) => m.push?.pub !== undefined);
    assert.equal(Buffer.from(pub.push.pub.data as Uint8Array).toString(), 'bin');
    s.close();
  });

  it('answers a CORS preflight and refuses other methods', async () => {
    const pre = await post(
      endpoint,
      '',
      { Origin: 'http://x.example', 'Access-Control-Request-Headers': 'content-type' },
      'OPTIONS',
    );
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-methods'], 'POST, OPTIONS');
    assert.equal(pre.headers['access-control-max-age'], '300');
    assert.equal(pre.headers['access-control-allow-origin'], 'http://x.example');
    assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
    const get = await post(endpoint, '', {}, 'GET');
    assert.equal(get.status, 405);
  });

  it('answers 400 to a body that is no command and 413 to a body over the limit', async () => {
    assert.equal((await post(endpoint, 'not json')).status, 400);
    assert.equal((await post(endpoint, '')).status, 400);
    const big = cmd({ connect: { token: 'x'.repeat(70000) }, id: 1 });
    assert.equal((await post(endpoint, big)).status, 413);
  });

  it('refuses a disallowed Origin with 403', async () => {
    const k = await startKit({ checkOrigin: (req) => req.headers.origin === undefined });
    try {
      const r = await post(`${k.url}/connection/http_stream`, cmd({ connect: {}, id: 1 }), {
        'Content-Type': 'application/json',
        Origin: 'http://evil.example',
      });
      assert.equal(r.status, 403);
    } finally {
      await k.close();
    }
  });

  it('closes the core client when the HTTP client goes away', async () => {
    const s = await openStream(endpoint, {
      headers: { 'Content-Type': 'application/json' },
      body: cmd({ connect: { token: 'gone' }, id: 1 }),
    });
    await s.next((m) => m.id === 1);
    assert.equal(kit.node.hub.userConnectionCount('gone'), 1);
    s.close();
    await waitFor(() => kit.node.hub.userConnectionCount('gone') === 0, 3000, 'client cleanup');
  });
});
