import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStream, post, startKit, waitFor, type Kit } from '../shared/test-kit.js';

const enc = new TextEncoder();

describe('uni_sse transport', () => {
  let kit: Kit;
  let endpoint: string;
  before(async () => {
    kit = await startKit();
    endpoint = `${kit.url}/connection/uni_sse`;
  });
  after(() => kit.close());

  it('GET with cf_connect streams bare pushes as SSE events', async () => {
    const q = encodeURIComponent(JSON.stringify({ token: 'sub:us' }));
    const s = await openStream(`${endpoint}?cf_connect=${q}`, { method: 'GET', framing: 'sse' });
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
    const first = await s.next(() => true);
    assert.ok(first.connect.subs.us);
    assert.ok(s.raw().startsWith('\r\ndata: {"connect"'));
    await kit.node.publish('us', enc.encode('{"k":"v"}'));
    const pub = await s.next((m) => m.pub !== undefined);
    assert.equal(pub.channel, 'us');
    assert.deepEqual(pub.pub.data, { k: 'v' });
    await kit.node.disconnect({ user: 'u1' }, { code: 3001, reason: 'shutdown' });
    const d = await s.next((m) => m.disconnect !== undefined);
    assert.deepEqual(d.disconnect, { code: 3001, reason: 'shutdown' });
    await waitFor(() => s.ended, 3000, 'stream end');
  });

  it('GET without cf_connect connects with an empty request; POST body works too', async () => {
    const s = await openStream(endpoint, { method: 'GET', framing: 'sse' });
    assert.ok((await s.next(() => true)).connect);
    s.close();
    const p = await openStream(endpoint, { body: JSON.stringify({ token: 'z' }), framing: 'sse' });
    assert.ok((await p.next(() => true)).connect);
    p.close();
    await waitFor(() => kit.node.hub.userConnectionCount('z') === 0, 3000, 'cleanup');
  });

  it('answers 400 for a bad cf_connect, 413 for a POST over the limit, 405 for PUT', async () => {
    assert.equal((await post(`${endpoint}?cf_connect=%7Bbad`, '', {}, 'GET')).status, 400);
    assert.equal((await post(endpoint, JSON.stringify({ token: 'w'.repeat(70000) }))).status, 413);
    assert.equal((await post(endpoint, '', {}, 'PUT')).status, 405);
  });

  it('answers a connect error with the configured HTTP status', async () => {
    const k = await startKit({
      configure(c) {
        c.uni_sse.connect_code_to_http_response = {
          enabled: true,
          transforms: [{ code: 109, to: { status_code: 401, body: '' } }],
        };
      },
    });
    try {
      const q = encodeURIComponent(JSON.stringify({ token: 'expired' }));
      assert.equal((await post(`${k.url}/connection/uni_sse?cf_connect=${q}`, '', {}, 'GET')).status, 401);
      // Codes without a transform keep the disconnect push.
      const q2 = encodeURIComponent(JSON.stringify({ token: 'denied' }));
      const s = await openStream(`${k.url}/connection/uni_sse?cf_connect=${q2}`, {
        method: 'GET',
        framing: 'sse',
      });
      assert.equal(s.status, 200);
      assert.equal((await s.next((m) => m.disconnect !== undefined)).disconnect.code, 3507);
    } finally {
      await k.close();
    }
  });
});
