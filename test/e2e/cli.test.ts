/**
 * The command line: genconfig (JSON/YAML/TOML) then serve with the generated secrets,
 * checkconfig, defaultconfig, gentoken/gensubtoken accepted by a running server,
 * checktoken/checksubtoken, version, and the root command running the server.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import {
  freePort,
  portAccepts,
  runCli,
  startGyre,
  tempDir,
  writeConfig,
  REPO_ROOT,
} from '../helpers/gyre.js';
import { SDK_BUILDS, apiClient, connectClient, record, waitEvent } from '../helpers/clients.js';
import { JWT_RE, hs256Token } from '../helpers/tokens.js';
import { HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { GYRE_BIN, cleanEnv } from '../helpers/gyre.js';

interface Generated {
  client: { token: { hmac_secret_key: string } };
  http_api: { key: string };
}

function parseConfigText(text: string, format: string): Generated {
  if (format === 'yaml') return parseYaml(text) as Generated;
  if (format === 'toml') return parseToml(text) as unknown as Generated;
  return JSON.parse(text) as Generated;
}

void describe('CLI', { concurrency: 4 }, () => {
  for (const format of ['json', 'yaml', 'toml'] as const) {
    void test(`genconfig writes ${format}; serve runs with its API key and HMAC secret`, async (t) => {
      const dir = tempDir(t);
      const file = join(dir, `config.${format}`);
      const gen = await runCli(['genconfig', '-c', file]);
      assert.equal(gen.code, 0, gen.output);
      const cfg = parseConfigText(readFileSync(file, 'utf8'), format);
      const secret = cfg.client.token.hmac_secret_key;
      const key = cfg.http_api.key;
      assert.ok(secret.length >= 32, 'random HMAC secret');
      assert.ok(key.length >= 32, 'random API key');
      const check = await runCli(['checkconfig', '-c', file]);
      assert.equal(check.code, 0, check.output);
      const gyre = await startGyre(t, { configFile: file });
      const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(secret, { sub: 'gen' }) }, t);
      await connectClient(c);
      const info = await apiClient(gyre.apiUrl, key).getInfo();
      assert.equal(info.nodes[0]?.num_clients, 1);
      const again = await runCli(['genconfig', '-c', file]);
      assert.notEqual(again.code, 0, 'genconfig refuses to overwrite an existing file');
      assert.equal(parseConfigText(readFileSync(file, 'utf8'), format).http_api.key, key);
    });
  }

  void test('checkconfig with a bad namespace names the key and exits non-zero', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig({ channel: { namespaces: [{ name: 'bad name!' }] } }));
    const res = await runCli(['checkconfig', '-c', file]);
    assert.notEqual(res.code, 0);
    assert.match(res.output, /namespace/i);
    assert.match(res.output, /bad name!/);
  });

  void test('checkconfig: history_size without history_ttl names the option', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(
      dir,
      standardConfig({ channel: { namespaces: [{ name: 'hh', history_size: 10 }] } }),
    );
    const res = await runCli(['checkconfig', '-c', file]);
    assert.notEqual(res.code, 0);
    assert.match(res.output, /history_ttl|history_size/);
  });

  void test('checkconfig fails on a missing file', async (t) => {
    const res = await runCli(['checkconfig', '-c', join(tempDir(t), 'missing.json')]);
    assert.notEqual(res.code, 0);
  });

  void test('serve with an invalid config exits non-zero, names the key, and never opens the port', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig({ client: { ping_interval: '1s', pong_timeout: '5s' } }));
    const port = await freePort();
    let opened = false;
    const res = runCli(['serve', '-c', file, '--port', String(port)]);
    const poll = setInterval(() => {
      void portAccepts(port).then((ok) => (opened ||= ok));
    }, 10);
    const out = await res;
    clearInterval(poll);
    assert.notEqual(out.code, 0);
    assert.match(out.output, /ping_interval|pong_timeout/);
    assert.equal(opened, false, 'port was never opened');
    assert.equal(await portAccepts(port), false);
  });

  void test('defaultconfig writes every default (port 8000, durations, /api)', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'defaults.json');
    const res = await runCli(['defaultconfig', '-c', file]);
    assert.equal(res.code, 0, res.output);
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as {
      http_server: { port: number };
      http_api: { handler_prefix: string };
      client: { ping_interval: unknown; channel_limit: number };
      websocket: { handler_prefix: string };
    };
    assert.equal(cfg.http_server.port, 8000);
    assert.equal(cfg.http_api.handler_prefix, '/api');
    assert.equal(cfg.websocket.handler_prefix, '/connection/websocket');
    assert.equal(cfg.client.channel_limit, 128);
    assert.ok(
      ['25s', '25000ms', 25000, '0h0m25s'].includes(cfg.client.ping_interval as string),
      String(cfg.client.ping_interval),
    );
    const check = await runCli(['checkconfig', '-c', file]);
    assert.equal(check.code, 0, check.output);
  });

  void test('gentoken and gensubtoken output is accepted by a running server; checktoken reads it', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig() });
    const user = uniq('cli');
    const gen = await runCli(['gentoken', '-c', gyre.configFile, '-u', user]);
    assert.equal(gen.code, 0, gen.output);
    const token = JWT_RE.exec(gen.stdout)?.[0];
    assert.ok(token, `token in output: ${gen.output}`);
    const channel = `$pub:${uniq('cli')}`;
    const genSub = await runCli(['gensubtoken', '-c', gyre.configFile, '-u', user, '-s', channel]);
    assert.equal(genSub.code, 0, genSub.output);
    const subToken = JWT_RE.exec(genSub.stdout)?.[0];
    assert.ok(subToken, genSub.output);
    for (const build of SDK_BUILDS) {
      const c = build.create(gyre.wsUrl, { token }, t);
      await connectClient(c);
      const sub = c.newSubscription(channel, { token: subToken });
      sub.subscribe();
      await sub.ready(5000);
    }
    const check = await runCli(['checktoken', '-c', gyre.configFile, token]);
    assert.equal(check.code, 0, check.output);
    assert.ok(check.output.includes(user), check.output);
    const checkSub = await runCli(['checksubtoken', '-c', gyre.configFile, subToken]);
    assert.equal(checkSub.code, 0, checkSub.output);
    assert.ok(checkSub.output.includes(user));
    const bad = await runCli([
      'checktoken',
      '-c',
      gyre.configFile,
      await hs256Token('other-secret', { sub: 'x' }),
    ]);
    assert.notEqual(bad.code, 0);
  });

  void test('gentoken --ttl sets exp; -q prints only the token', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig());
    const res = await runCli(['gentoken', '-c', file, '-u', 'q', '-t', '60', '-q']);
    assert.equal(res.code, 0, res.output);
    const token = res.stdout.trim();
    assert.match(token, new RegExp(`^${JWT_RE.source}$`));
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      sub: string;
      exp: number;
    };
    assert.equal(payload.sub, 'q');
    assert.ok(Math.abs(payload.exp - Math.floor(Date.now() / 1000) - 60) <= 5);
  });

  void test('checkconfig: unknown keys only warn, --strict makes them fatal', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig({ no_such_option: 1 }));
    const lax = await runCli(['checkconfig', '-c', file]);
    assert.equal(lax.code, 0, lax.output);
    const strict = await runCli(['checkconfig', '-c', file, '--strict']);
    assert.notEqual(strict.code, 0);
    assert.match(strict.output, /no_such_option/);
  });

  void test('gentoken -t -1 makes a token without exp', async (t) => {
    const file = writeConfig(tempDir(t), standardConfig());
    const res = await runCli(['gentoken', '-c', file, '-u', 'forever', '-t', '-1', '-q']);
    assert.equal(res.code, 0, res.output);
    const payload = JSON.parse(
      Buffer.from(res.stdout.trim().split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as {
      sub: string;
      exp?: number;
    };
    assert.equal(payload.sub, 'forever');
    assert.equal(payload.exp, undefined);
  });

  void test('version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const res = await runCli(['version']);
    assert.equal(res.code, 0, res.output);
    assert.ok(res.stdout.includes(pkg.version), res.output);
  });

  void test('no subcommand runs the server (port from the environment)', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig());
    const gyre = await startGyre(t, {
      configFile: file,
      argv: ({ configFile }) => ['-c', configFile],
      env: (port) => ({ CENTRIFUGO_HTTP_SERVER_PORT: String(port) }),
    });
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'root' }) }, t);
    await connectClient(c);
    const log = record(c);
    await gyre.stop('SIGTERM');
    await waitEvent(log, 'connecting', (x) => x.code === 3001);
  });

  void test('serve without a config file still starts (config file is optional for the server)', async (t) => {
    const dir = tempDir(t);
    const missing = join(dir, 'nope.json');
    assert.equal(existsSync(missing), false);
    const gyre = await startGyre(t, {
      configFile: missing,
      env: { CENTRIFUGO_HTTP_API_KEY: 'envkey' },
    });
    const info = await apiClient(gyre.apiUrl, 'envkey').getInfo();
    assert.equal(info.nodes.length, 1);
  });
});

/** `gyre serve -d DIR ...` until it prints the URL it serves on. */
async function startStatic(
  t: { after(fn: () => unknown): void },
  args: string[],
): Promise<{ url: string; port: number; stop(): Promise<number | null>; output(): string }> {
  const proc = spawn(process.execPath, [GYRE_BIN, 'serve', ...args], {
    cwd: REPO_ROOT,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.after(() => proc.kill('SIGKILL'));
  const deadline = Date.now() + 15000;
  for (;;) {
    const m = /serving .* on (http:\/\/127\.0\.0\.1:(\d+))\//.exec(out);
    if (m) {
      return {
        url: m[1] as string,
        port: Number(m[2]),
        stop: () => {
          proc.kill('SIGTERM');
          return exited;
        },
        output: () => out,
      };
    }
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`static serve did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** GET with the path sent as is (fetch would resolve `..` before sending). */
function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

void describe('serve -d: static file server for development', () => {
  void test('serves the directory with content types and index.html, 404 outside it, stops on SIGTERM', async (t) => {
    const base = tempDir(t);
    const site = join(base, 'site');
    mkdirSync(join(site, 'js'), { recursive: true });
    writeFileSync(join(site, 'index.html'), '<script src="js/app.js"></script>');
    writeFileSync(join(site, 'js', 'app.js'), 'new Centrifuge("ws://localhost:8000/connection/websocket")');
    writeFileSync(join(base, 'config.json'), '{"http_api": {"key": "do-not-serve"}}');
    const port = await freePort();
    const s = await startStatic(t, ['-d', site, '-p', String(port), '-a', '127.0.0.1']);
    assert.equal(s.port, port);

    const index = await fetch(`${s.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await index.text(), '<script src="js/app.js"></script>');
    const js = await fetch(`${s.url}/js/app.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await js.text(), /new Centrifuge/);
    assert.equal((await fetch(`${s.url}/missing.css`)).status, 404);
    for (const path of ['/../config.json', '/%2e%2e/config.json', '/js/..%2f..%2fconfig.json']) {
      const res = await rawGet(s.port, path);
      assert.equal(res.status, 404, path);
      assert.ok(!res.body.includes('do-not-serve'), path);
    }
    // Not the messaging server.
    assert.equal((await fetch(`${s.url}/connection/websocket`)).status, 404);

    assert.equal(await s.stop(), 0, s.output());
    assert.equal(await portAccepts(port), false);
  });

  void test('a missing directory is an error naming --dir', async (t) => {
    const res = await runCli(['serve', '-d', join(tempDir(t), 'nope'), '-p', String(await freePort())]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /--dir: .*nope: no such directory/);
  });
});
