import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { defaultConfig, type Config } from '../config/index.js';
import { validateConfig } from '../config/validate.js';
import { connectClient, startTestServer } from '../test-server.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { selfSignedCert } from '../../../test/helpers/certs.js';

const PASSWORD = 'admin-pass';
const SECRET = 'admin-secret';

function withAdmin(extra: (c: Config) => void = () => {}): (c: Config) => void {
  return (c) => {
    c.admin.enabled = true;
    c.admin.password = PASSWORD;
    c.admin.secret = SECRET;
    extra(c);
  };
}

async function login(base: string, password = PASSWORD): Promise<{ status: number; token?: string }> {
  const res = await fetch(`${base}/admin/auth`, {
    method: 'POST',
    body: new URLSearchParams({ password }),
  });
  if (res.status !== 200) {
    await res.text();
    return { status: res.status };
  }
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { token: string };
  return { status: 200, token: body.token };
}

async function adminApi(
  base: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json?: Record<string, unknown> }> {
  const res = await fetch(`${base}/admin/api`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status };
  return { status: 200, json: JSON.parse(text) as Record<string, unknown> };
}

describe('admin auth endpoint', () => {
  it('exchanges the right password for a token; a wrong or missing one is 400; POST only', async (t) => {
    const s = await startTestServer(t, withAdmin());
    assert.equal((await login(s.base, 'wrong')).status, 400);
    assert.equal((await login(s.base, '')).status, 400);
    const ok = await login(s.base);
    assert.equal(ok.status, 200);
    assert.match(ok.token ?? '', /^v1\.\d+\.[\w-]+$/);
    assert.equal((await fetch(`${s.base}/admin/auth`)).status, 405);
    // JSON and multipart bodies work too (scripts, FormData).
    const json = await fetch(`${s.base}/admin/auth`, {
      method: 'POST',
      body: JSON.stringify({ password: PASSWORD }),
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(json.status, 200);
    const fd = new FormData();
    fd.set('password', PASSWORD);
    assert.equal((await fetch(`${s.base}/admin/auth`, { method: 'POST', body: fd })).status, 200);
    assert.ok(s.logs.some((l) => l.msg === 'admin login with a wrong password'));
  });

  it('settings tell the UI whether it must log in', async (t) => {
    const s = await startTestServer(t, withAdmin());
    const anon = (await (await fetch(`${s.base}/admin/settings`)).json()) as Record<string, unknown>;
    assert.deepEqual(anon, { insecure: false, edition: 'oss', authenticated: false });
    const { token } = await login(s.base);
    const authed = await fetch(`${s.base}/admin/init`, { headers: { Authorization: `token ${token}` } });
    assert.deepEqual(await authed.json(), { insecure: false, edition: 'oss', authenticated: true });
  });
});

describe('admin API endpoint', () => {
  it('needs a valid token (header or query), then runs server API methods', async (t) => {
    const s = await startTestServer(t, withAdmin());
    const { token } = await login(s.base);
    assert.ok(token !== undefined);
    const info = { method: 'info', params: {} };
    assert.equal((await adminApi(s.base, info)).status, 401);
    assert.equal((await adminApi(s.base, info, { Authorization: 'token nope' })).status, 401);
    assert.equal((await adminApi(s.base, info, { Authorization: `Bearer ${token}` })).status, 401);
    // The server API key is not an admin token.
    assert.equal((await adminApi(s.base, info, { 'X-API-Key': 'test-key' })).status, 401);
    const forged = token.replace(/\.(\d+)\./, (_m, exp: string) => `.${Number(exp) + 1}.`);
    assert.equal((await adminApi(s.base, info, { Authorization: `token ${forged}` })).status, 401);

    const auth = { Authorization: `token ${token}` };
    const r = await adminApi(s.base, info, auth);
    assert.equal(r.status, 200);
    const nodes = (r.json?.result as { nodes: { name: string; num_clients: number }[] }).nodes;
    assert.equal(nodes.length, 1);
    assert.equal(typeof nodes[0]?.name, 'string');

    const q = await fetch(`${s.base}/admin/api?token=${encodeURIComponent(token)}`, {
      method: 'POST',
      body: JSON.stringify(info),
    });
    assert.equal(q.status, 200);
    assert.equal((await fetch(`${s.base}/admin/api`, { headers: auth })).status, 405);
  });

  it('publishes to connected clients and reports errors the way the API does', async (t) => {
    const s = await startTestServer(t, withAdmin());
    const { token } = await login(s.base);
    const auth = { Authorization: `token ${token}` };
    const c = await connectClient(s.wsUrl, ['news']);
    t.after(() => c.ws.close());

    const pub = await adminApi(
      s.base,
      { method: 'publish', params: { channel: 'news', data: { x: 1 } } },
      auth,
    );
    assert.deepEqual(pub.json, { result: {} });
    await waitFor(() => c.lines.some((l) => JSON.stringify(l).includes('"data":{"x":1}')));

    // Method names are case-insensitive; the legacy numeric ids work; an id is echoed.
    const upper = await adminApi(
      s.base,
      { id: 7, method: 'PRESENCE_STATS', params: { channel: 'news' } },
      auth,
    );
    // (presence is off for this channel: the method ran and answered 108)
    assert.deepEqual(upper.json, { id: 7, error: { code: 108, message: 'not available' } });
    const byId = await adminApi(s.base, { method: 9, params: {} }, auth);
    assert.ok(byId.json?.result !== undefined);

    const batch = await adminApi(
      s.base,
      {
        method: 'batch',
        params: { commands: [{ publish: { channel: 'news', data: { n: 2 } } }, { info: {} }] },
      },
      auth,
    );
    const replies = (batch.json?.result as { replies: Record<string, unknown>[] }).replies;
    assert.equal(replies.length, 2);
    assert.ok('publish' in (replies[0] ?? {}) && 'info' in (replies[1] ?? {}));

    assert.deepEqual((await adminApi(s.base, { method: 'nope', params: {} }, auth)).json, {
      error: { code: 104, message: 'not found' },
    });
    assert.deepEqual((await adminApi(s.base, { method: 'publish', params: { channel: 5 } }, auth)).json, {
      error: { code: 107, message: 'bad request' },
    });
    assert.deepEqual((await adminApi(s.base, { method: 'publish', params: { data: {} } }, auth)).json, {
      error: { code: 107, message: 'bad request' },
    });
    assert.equal((await adminApi(s.base, '{not json', auth)).status, 400);
    assert.equal((await adminApi(s.base, '[]', auth)).status, 400);
  });

  it('insecure mode needs no token and no password', async (t) => {
    const s = await startTestServer(t, (c) => {
      c.admin.enabled = true;
      c.admin.insecure = true;
    });
    const r = await adminApi(s.base, { method: 'info', params: {} });
    assert.equal(r.status, 200);
    const settings = await (await fetch(`${s.base}/admin/settings`)).json();
    assert.deepEqual(settings, { insecure: true, edition: 'oss', authenticated: true });
    // Nothing to log in with: the auth endpoint refuses like Centrifugo's.
    assert.equal((await login(s.base, '')).status, 400);
    assert.ok(s.logs.some((l) => l.level === 'warn' && /admin\.insecure/.test(l.msg ?? '')));
  });
});

describe('admin mounting', () => {
  it('serves the embedded UI at / by default, with its endpoints beside it', async (t) => {
    const s = await startTestServer(t, withAdmin());
    const index = await fetch(`${s.base}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /text\/html/);
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await index.text(), /<title>Gyre admin<\/title>/);
    const js = await fetch(`${s.base}/app.js`);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    const etag = js.headers.get('etag') ?? '';
    await js.text();
    assert.equal((await fetch(`${s.base}/app.js`, { headers: { 'If-None-Match': etag } })).status, 304);
    assert.equal((await fetch(`${s.base}/style.css`)).status, 200);
    assert.equal((await fetch(`${s.base}/missing.js`)).status, 404);
    assert.equal((await fetch(`${s.base}/`, { method: 'POST' })).status, 405);
    // The other endpoints keep their paths.
    assert.equal((await fetch(`${s.base}/api/info`, { method: 'POST', body: '{}' })).status, 401);
    assert.equal((await fetch(`${s.base}/connection/websocket`)).status, 400);
  });

  it('admin.handler_prefix moves the UI and the endpoints', async (t) => {
    const s = await startTestServer(
      t,
      withAdmin((c) => (c.admin.handler_prefix = '/gyre/admin-ui/')),
    );
    assert.equal((await fetch(`${s.base}/`)).status, 404);
    assert.equal((await fetch(`${s.base}/admin/settings`)).status, 404);
    const bare = await fetch(`${s.base}/gyre/admin-ui?x=1`, { redirect: 'manual' });
    assert.equal(bare.status, 301);
    assert.equal(bare.headers.get('location'), '/gyre/admin-ui/?x=1');
    assert.equal((await fetch(`${s.base}/gyre/admin-ui/`)).status, 200);
    const { token } = await login(`${s.base}/gyre/admin-ui`);
    assert.ok(token !== undefined);
    const r = await adminApi(
      `${s.base}/gyre/admin-ui`,
      { method: 'info' },
      { Authorization: `token ${token}` },
    );
    assert.equal(r.status, 200);
  });

  it('goes to the internal port when one is set, unless admin.external', async (t) => {
    const internalOnly = await startTestServer(
      t,
      withAdmin((c) => {
        c.http_server.internal_port = '0';
        c.http_server.internal_address = '127.0.0.1';
      }),
    );
    const internal = `http://127.0.0.1:${internalOnly.internalPort}`;
    assert.equal((await fetch(`${internalOnly.base}/`)).status, 404);
    assert.equal((await login(internalOnly.base)).status, 404);
    assert.equal((await fetch(`${internal}/`)).status, 200);
    assert.equal((await login(internal)).status, 200);

    const external = await startTestServer(
      t,
      withAdmin((c) => {
        c.http_server.internal_port = '0';
        c.http_server.internal_address = '127.0.0.1';
        c.admin.external = true;
      }),
    );
    assert.equal((await login(external.base)).status, 200);
    assert.equal((await login(`http://127.0.0.1:${external.internalPort}`)).status, 404);
  });

  it('is absent unless admin.enabled', async (t) => {
    const s = await startTestServer(t);
    assert.equal((await fetch(`${s.base}/`)).status, 404);
    assert.equal((await login(s.base)).status, 404);
  });
});

describe('custom admin UI', () => {
  it('admin.web_path serves a directory, never files outside it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-admin-web-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'index.html'), '<p>custom</p>');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'index.html'), 'sub index');
    writeFileSync(join(dir, 'sub', 'x.js'), 'let x;');
    const s = await startTestServer(
      t,
      withAdmin((c) => (c.admin.web_path = dir)),
    );
    assert.equal(await (await fetch(`${s.base}/`)).text(), '<p>custom</p>');
    const js = await fetch(`${s.base}/sub/x.js`);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.equal(await js.text(), 'let x;');
    const redirect = await fetch(`${s.base}/sub`, { redirect: 'manual' });
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get('location'), '/sub/');
    assert.equal(await (await fetch(`${s.base}/sub/`)).text(), 'sub index');
    assert.equal((await fetch(`${s.base}/app.js`)).status, 404); // not the embedded UI
    assert.equal((await fetch(`${s.base}/..%2f..%2fetc%2fpasswd`)).status, 400);
    // Endpoints still work next to a custom UI.
    assert.equal((await login(s.base)).status, 200);
  });

  it('admin.web_proxy_address forwards UI requests (path and query kept), 502 when down', async (t) => {
    const seen: string[] = [];
    const dev = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url} host=${req.headers.host}`);
      res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Dev': 'yes' });
      res.end(`dev:${req.url}`);
    });
    dev.listen(0, '127.0.0.1');
    await once(dev, 'listening');
    const devPort = (dev.address() as AddressInfo).port;
    const s = await startTestServer(
      t,
      withAdmin((c) => {
        c.admin.handler_prefix = '/ui';
        c.admin.web_proxy_address = `http://127.0.0.1:${devPort}/base`;
      }),
    );
    const res = await fetch(`${s.base}/ui/src/main.ts?v=3`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-dev'), 'yes');
    assert.equal(await res.text(), 'dev:/base/ui/src/main.ts?v=3');
    assert.deepEqual(seen, [`GET /base/ui/src/main.ts?v=3 host=127.0.0.1:${devPort}`]);
    // The admin endpoints are served by Gyre, not the dev server.
    assert.equal((await login(`${s.base}/ui`)).status, 200);
    assert.equal(seen.length, 1);

    await new Promise<void>((r) => dev.close(() => r()));
    dev.closeAllConnections();
    const down = await fetch(`${s.base}/ui/`);
    assert.equal(down.status, 502);
    await down.text();
    assert.ok(s.logs.some((l) => l.msg === 'admin web proxy error'));
  });
});

describe('admin web proxy over HTTP/2', () => {
  it('forwards an HTTP/2 request without its pseudo-headers, :authority as X-Forwarded-Host', async (t) => {
    const seen: http.IncomingHttpHeaders[] = [];
    const dev = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end('dev');
    });
    dev.listen(0, '127.0.0.1');
    await once(dev, 'listening');
    t.after(() => dev.close());
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), 'gyre-adm-h2-')), {
      san: 'IP:127.0.0.1',
    });
    const s = await startTestServer(
      t,
      withAdmin((c) => {
        c.admin.web_proxy_address = `http://127.0.0.1:${(dev.address() as AddressInfo).port}`;
        c.http_server.tls = { ...c.http_server.tls, enabled: true, cert_pem: cert, key_pem: key };
      }),
    );
    const session = http2.connect(s.base.replace('http:', 'https:'), { rejectUnauthorized: false });
    t.after(() => session.close());
    const req = session.request({ ':path': '/src/main.ts' });
    const [h] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    req.setEncoding('utf8');
    for await (const chunk of req) body += chunk as string;
    assert.equal(h[':status'], 200);
    assert.equal(body, 'dev');
    assert.equal(seen.length, 1);
    assert.deepEqual(
      Object.keys(seen[0] ?? {}).filter((k) => k.startsWith(':')),
      [],
    );
    assert.equal(seen[0]?.['x-forwarded-host'], new URL(s.base).host);
  });
});

describe('admin config validation', () => {
  it('names the missing key unless insecure; checks the proxy address', () => {
    const c = defaultConfig();
    c.admin.enabled = true;
    const errs = validateConfig(c);
    assert.ok(errs.some((e) => e.startsWith('admin.password:')));
    assert.ok(errs.some((e) => e.startsWith('admin.secret:')));
    c.admin.insecure = true;
    assert.deepEqual(
      validateConfig(c).filter((e) => e.startsWith('admin.')),
      [],
    );
    c.admin.web_proxy_address = 'localhost:3000';
    assert.ok(validateConfig(c).some((e) => e.startsWith('admin.web_proxy_address:')));
    c.admin.web_proxy_address = 'http://localhost:3000';
    assert.deepEqual(
      validateConfig(c).filter((e) => e.startsWith('admin.')),
      [],
    );
  });
});
