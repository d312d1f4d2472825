/**
 * The static file server of `gyre serve -d`: files with their content types, index.html for
 * directories, a listing without one, 404 for missing files, and nothing outside the directory
 * whatever the request path looks like.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { contentTypeOf } from '../util/content-type.js';
import { startStaticServer, staticPort, type StaticServer } from './static-serve.js';

/** Sends `path` exactly as given (fetch would normalise `..` away before sending). */
function rawGet(
  port: number,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('static file server', () => {
  const base = mkdtempSync(join(tmpdir(), 'gyre-static-'));
  const root = join(base, 'site');
  let srv: StaticServer;
  before(async () => {
    mkdirSync(join(root, 'docs'), { recursive: true });
    mkdirSync(join(root, 'empty dir'));
    writeFileSync(join(root, 'index.html'), '<h1>home</h1>');
    writeFileSync(join(root, 'app.js'), 'console.log(1)');
    writeFileSync(join(root, 'style.css'), 'body{}');
    writeFileSync(join(root, 'data.json'), '{"a":1}');
    writeFileSync(join(root, 'pic.PNG'), Buffer.from([0x89, 0x50, 0x4e, 0x47]));
    writeFileSync(join(root, 'blob.bin'), 'x');
    writeFileSync(join(root, 'a file.txt'), 'spaced');
    writeFileSync(join(root, 'docs', 'index.html'), '<h1>docs</h1>');
    writeFileSync(join(root, 'empty dir', '<b>.txt'), 'tricky');
    // Outside the served directory.
    writeFileSync(join(base, 'secret.txt'), 'TOP SECRET');
    symlinkSync(join(base, 'secret.txt'), join(root, 'link-out.txt'));
    symlinkSync(join(root, 'app.js'), join(root, 'link-in.js'));
    srv = await startStaticServer(root, 0, '127.0.0.1');
  });
  after(async () => {
    await srv.close();
    rmSync(base, { recursive: true, force: true });
  });

  void it('serves files with the content type of their extension', async () => {
    const cases: [string, string, string][] = [
      ['/app.js', 'text/javascript; charset=utf-8', 'console.log(1)'],
      ['/style.css', 'text/css; charset=utf-8', 'body{}'],
      ['/data.json', 'application/json', '{"a":1}'],
      ['/pic.PNG', 'image/png', '\u0089PNG'],
      ['/blob.bin', 'application/octet-stream', 'x'],
      ['/a%20file.txt', 'text/plain; charset=utf-8', 'spaced'],
      ['/app.js?v=3', 'text/javascript; charset=utf-8', 'console.log(1)'],
    ];
    for (const [path, type, body] of cases) {
      const res = await fetch(`http://127.0.0.1:${srv.port}${path}`);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      if (type !== 'image/png') assert.equal(await res.text(), body, path);
      else assert.equal((await res.arrayBuffer()).byteLength, 4);
    }
  });

  void it('serves index.html for directories and redirects directory paths to end with /', async () => {
    const home = await fetch(`http://127.0.0.1:${srv.port}/`);
    assert.equal(home.status, 200);
    assert.equal(home.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await home.text(), '<h1>home</h1>');
    const redirect = await rawGet(srv.port, '/docs?x=1');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/docs/?x=1');
    const docs = await fetch(`http://127.0.0.1:${srv.port}/docs`); // follows the redirect
    assert.equal(docs.status, 200);
    assert.equal(await docs.text(), '<h1>docs</h1>');
  });

  void it('lists a directory without index.html, escaping names', async () => {
    const res = await fetch(`http://127.0.0.1:${srv.port}/empty%20dir/`);
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(html, /<a href="%3Cb%3E\.txt">&#60;b&#62;\.txt<\/a>/);
    assert.ok(!html.includes('<b>'), html);
  });

  void it('answers 404 for missing files, HEAD without a body, 405 for other methods', async () => {
    const missing = await fetch(`http://127.0.0.1:${srv.port}/nope.html`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), '404 page not found\n');
    const head = await rawGet(srv.port, '/app.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '14');
    assert.equal(head.body, '');
    const post = await rawGet(srv.port, '/app.js', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  void it('answers 304 when the file did not change since If-Modified-Since', async () => {
    const first = await rawGet(srv.port, '/app.js');
    const lm = first.headers['last-modified'];
    assert.ok(lm);
    const again = await rawGet(srv.port, '/app.js', 'GET', { 'If-Modified-Since': lm });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
  });

  void it('never serves anything outside the directory', async () => {
    for (const path of [
      '/../secret.txt',
      '/../../../../etc/passwd',
      '/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/docs/..%2f..%2fsecret.txt',
      '/%2e%2e%2f%2e%2e%2fsecret.txt',
      '/docs/../../secret.txt',
      '/..\\secret.txt',
      '/link-out.txt',
    ]) {
      const res = await rawGet(srv.port, path);
      assert.equal(res.status, 404, `${path}: ${res.status} ${res.body}`);
      assert.ok(!res.body.includes('TOP SECRET'), path);
    }
    // Malformed escapes and NUL bytes are bad requests.
    assert.equal((await rawGet(srv.port, '/%E0%A4%A')).status, 400);
    assert.equal((await rawGet(srv.port, '/app.js%00.png')).status, 400);
    // A symbolic link that stays inside is served.
    const inside = await rawGet(srv.port, '/link-in.js');
    assert.equal(inside.status, 200);
    assert.equal(inside.body, 'console.log(1)');
  });

  void it('rejects a missing directory and bad ports with the flag named', async () => {
    await assert.rejects(
      startStaticServer(join(base, 'nope'), 0, '127.0.0.1'),
      /--dir: .*nope: no such directory/,
    );
    await assert.rejects(
      startStaticServer(join(root, 'app.js'), 0, '127.0.0.1'),
      /--dir: .*app\.js: not a directory/,
    );
    assert.equal(staticPort(undefined), 3000);
    assert.equal(staticPort('8080'), 8080);
    assert.throws(() => staticPort('http'), /--port: must be an integer between 0 and 65535, got "http"/);
    assert.throws(() => staticPort('70000'), /--port/);
  });

  void it('maps common web extensions', () => {
    assert.equal(contentTypeOf('x.html'), 'text/html; charset=utf-8');
    assert.equal(contentTypeOf('x.mjs'), 'text/javascript; charset=utf-8');
    assert.equal(contentTypeOf('x.svg'), 'image/svg+xml');
    assert.equal(contentTypeOf('x.wasm'), 'application/wasm');
    assert.equal(contentTypeOf('x.woff2'), 'font/woff2');
    assert.equal(contentTypeOf('Makefile'), 'application/octet-stream');
  });
});
