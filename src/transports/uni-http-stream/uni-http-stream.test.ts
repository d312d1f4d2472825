import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStream, post, startKit, waitFor, type Kit } from '../shared/test-kit.js';

const enc = new TextEncoder();

describe('uni_http_stream transport', () => {
  let kit: Kit;
  let endpoint: string;
  before(async () => {
    kit = await startKit();
    endpoint = `${kit.url}/connection/uni_http_stream`;
  });
  after(() => kit.close());

  it('streams bare pushes as JSON lines: connect, publication, join/leave, disconnect', async () => {
    const s = await openStream(endpoint, { body: JSON.stringify({ token: 'sub:uh' }) });
    assert.equal(s.status, 200);
    assert.equal(s.headers['cache-control'], 'private, no-cache, no-store, must-revalidate, max-age=0');
    const first = await s.next(() => true);
    assert.ok(first.connect, 'first push is connect');
    assert.equal(typeof first.connect.session, 'string');
    assert.equal(first.connect.node, undefined);
    assert.ok(first.connect.subs.uh);
    assert.equal(first.connect.ping, 25);
    assert.equal(first.id, undefined);

    await kit.node.publish('uh', enc.encode('{"v":1}'));
    const pub = await s.next((m) => m.pub !== undefined);
    assert.equal(pub.channel, 'uh');
    assert.deepEqual(pub.pub.data, { v: 1 });

    const other = await openStream(endpoint, { body: JSON.stringify({ token: 'sub:uh' }) });
    await other.next((m) => m.connect !== undefined);
    await s.next((m) => m.join !== undefined && m.join.info.client !== first.connect.client, 'join push');
    other.close();
    await s.next((m) => m.leave !== undefined, 'leave push');

    await kit.node.disconnect({ user: 'u1' }, { code: 3503, reason: 'force disconnect' });
    const d = await s.next((m) => m.disconnect !== undefined);
    assert.deepEqual(d.disconnect, { code: 3503, reason: 'force disconnect' });
    await waitFor(() => s.ended, 3000, 'stream end');
    assert.ok(s.raw().endsWith('\n'));
  });

  it('treats an empty body and null as an empty ConnectRequest', async () => {
    for (const body of ['', 'null']) {
      const s = await openStream(endpoint, { body });
      const m = await s.next((x) => x.connect !== undefined);
      assert.equal(typeof m.connect.client, 'string');
      s.close();
    }
  });

  it('turns connect errors into disconnect pushes (103 ⇒ 3507, 109 ⇒ 3005, 111 ⇒ 3013)', async () => {
    const cases: [string, number][] = [
      ['denied', 3507],
      ['expired', 3005],
      ['limited', 3013],
    ];
    for (const [token, code] of cases) {
      const s = await openStream(endpoint, { body: JSON.stringify({ token }) });
      assert.equal(s.status, 200);
      const d = await s.next((m) => m.disconnect !== undefined);
      assert.equal(d.disconnect.code, code, token);
      await waitFor(() => s.ended, 3000, 'stream end');
    }
  });

  it('answers 400 to an undecodable body, 413 over the limit, 405 to GET, 200 to OPTIONS', async () => {
    assert.equal((await post(endpoint, '{"token":')).status, 400);
    assert.equal((await post(endpoint, JSON.stringify({ token: 'q'.repeat(70000) }))).status, 413);
    assert.equal((await post(endpoint, '', {}, 'GET')).status, 405);
    const pre = await post(endpoint, '', {}, 'OPTIONS');
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-methods'], 'POST, OPTIONS');
  });

  it('applies connect_code_to_http_response and connect_code_to_unidirectional_disconnect', async () => {
    const k = await startKit({
      configure(c) {
        c.uni_http_stream.connect_code_to_http_response = {
          enabled: true,
          transforms: [{ code: 103, to: { status_code: 403, body: 'forbidden here' } }],
        };
        c.client.connect_code_to_unidirectional_disconnect = {
          enabled: true,
          transforms: [{ code: 109, to: { code: 4109, reason: 'token expired' } }],
        };
      },
    });
    try {
      const url = `${k.url}/connection/uni_http_stream`;
      const denied = await post(url, JSON.stringify({ token: 'denied' }));
      assert.equal(denied.status, 403);
      assert.equal(denied.body, 'forbidden here');
      const s = await openStream(url, { body: JSON.stringify({ token: 'expired' }) });
      const d = await s.next((m) => m.disconnect !== undefined);
      assert.deepEqual(d.disconnect, { code: 4109, reason: 'token expired' });
      const ok = await openStream(url, { body: JSON.stringify({ token: 'fine' }) });
      assert.ok((await ok.next(() => true)).connect);
      ok.close();
    } finally {
      await k.close();
    }
  });
});
