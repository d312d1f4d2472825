import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cmd, openStream, post, startKit, waitFor, type Kit } from '../shared/test-kit.js';

const enc = new TextEncoder();

describe('sse transport', () => {
  let kit: Kit;
  let endpoint: string;
  before(async () => {
    kit = await startKit();
    endpoint = `${kit.url}/connection/sse`;
  });
  after(() => kit.close());

  const connectUrl = (token: string): string =>
    `${endpoint}?cf_connect=${encodeURIComponent(cmd({ connect: { token }, id: 1 }))}`;

  it('streams events for a GET with cf_connect: \\r\\n first, then data: lines', async () => {
    const s = await openStream(connectUrl('sub:sse-news'), { method: 'GET', framing: 'sse' });
    assert.equal(s.status, 200);
    assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(s.headers['cache-control'], 'private, no-cache, no-store, must-revalidate, max-age=0');
    const reply = await s.next((m) => m.id === 1);
    assert.equal(reply.connect.node, kit.node.uid);
    assert.ok(s.raw().startsWith('\r\ndata: {'));
    await kit.node.publish('sse-news', enc.encode('{"a":2}'));
    const pub = await s.next((m) => m.push?.pub !== undefined);
    assert.deepEqual(pub.push.pub.data, { a: 2 });
    await kit.node.disconnect({ user: 'u1' }, { code: 3001, reason: 'shutdown' });
    const d = await s.next((m) => m.push?.disconnect !== undefined);
    assert.deepEqual(d.push.disconnect, { code: 3001, reason: 'shutdown' });
    await waitFor(() => s.ended, 3000, 'stream end');
  });

  it('accepts the connect command as a POST body', async () => {
    const s = await openStream(endpoint, { body: cmd({ connect: { token: 'bob' }, id: 1 }), framing: 'sse' });
    assert.equal(s.status, 200);
    const reply = await s.next((m) => m.id === 1);
    assert.equal(typeof reply.connect.client, 'string');
    s.close();
  });

  it('answers 400 without cf_connect or with a bad one, 413 for a POST body over the limit', async () => {
    assert.equal((await post(endpoint, '', {}, 'GET')).status, 400);
    assert.equal((await post(`${endpoint}?cf_connect=%7Bnope`, '', {}, 'GET')).status, 400);
    assert.equal((await post(endpoint, cmd({ connect: { token: 'y'.repeat(70000) }, id: 1 }))).status, 413);
    assert.equal((await post(endpoint, '', {}, 'PUT')).status, 405);
  });
});
