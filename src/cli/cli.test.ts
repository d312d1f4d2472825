import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './main.js';
import type { CliIO } from './io.js';

const dir = mkdtempSync(join(tmpdir(), 'gyre-cli-'));
const p = (name: string) => join(dir, name);

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIO = {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env: {},
  };
  const code = await main(argv, io);
  return { code, out, err };
}

const entry = fileURLToPath(new URL('./main-entry.ts', import.meta.url));
/** The repo root: `--import tsx` resolves from the working directory. */
const root = fileURLToPath(new URL('../../', import.meta.url));

/** Runs the CLI as a subprocess; resolves when it exits. `onLine` sees each stdout line. */
function spawnCli(
  args: string[],
  onLine?: (line: string, kill: (sig: NodeJS.Signals) => void) => void,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '' },
    });
    let out = '';
    let err = '';
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        onLine?.(line, (sig) => child.kill(sig));
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // A hung child fails the test instead of hanging the suite.
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      resolve({ code, out, err });
    });
  });
}

describe('gyre CLI', () => {
  it('version prints the Gyre and Node versions', async () => {
    const r = await run('version');
    assert.equal(r.code, 0);
    assert.match(r.out, /^Gyre v\d+\.\d+\.\d+ \(Centrifugo v6 compatible, Node v\d+/);
  });

  it('configdoc prints the key reference', async () => {
    const r = await run('configdoc', '-s', 'http_api');
    assert.equal(r.code, 0);
    assert.match(r.out, /`http_api\.key`/);
  });

  for (const ext of ['json', 'yaml', 'yml', 'toml']) {
    it(`genconfig writes a valid ${ext} file that checkconfig accepts`, async () => {
      const file = p(`gen.${ext}`);
      const g = await run('genconfig', '-c', file);
      assert.equal(g.code, 0, g.err);
      assert.match(g.out, new RegExp(`gen\\.${ext}`));
      const text = readFileSync(file, 'utf8');
      assert.match(text, /hmac_secret_key/);
      const c = await run('checkconfig', '-c', file, '--strict');
      assert.equal(c.code, 0, c.err);
    });
  }

  it('genconfig refuses to overwrite and rejects unknown extensions', async () => {
    const file = p('exists.json');
    writeFileSync(file, '{}');
    const r = await run('genconfig', '-c', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /already exists/);
    assert.equal(readFileSync(file, 'utf8'), '{}');
    const bad = await run('genconfig', '-c', p('x.ini'));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /unsupported config file extension/);
    assert.equal(existsSync(p('x.ini')), false);
  });

  it('genconfig secrets are random', async () => {
    await run('genconfig', '-c', p('r1.json'));
    await run('genconfig', '-c', p('r2.json'));
    const a = JSON.parse(readFileSync(p('r1.json'), 'utf8'));
    const b = JSON.parse(readFileSync(p('r2.json'), 'utf8'));
    assert.notEqual(a.client.token.hmac_secret_key, b.client.token.hmac_secret_key);
    assert.ok(Buffer.from(a.client.token.hmac_secret_key, 'base64url').length === 64);
  });

  it('checkconfig fails naming the key', async () => {
    const file = p('bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        client: { ping_interval: '5s' },
        channel: { namespaces: [{ name: 'chat', history_size: 10, history_ttl: '800h' }] },
      }),
    );
    const r = await run('checkconfig', '-c', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /client\.ping_interval: must be greater than client\.pong_timeout/);
    assert.match(
      r.err,
      /channel\.namespaces\[0\]\.history_ttl: must be ≤ channel\.history_meta_ttl \(720h\)/,
    );
  });

  it('checkconfig fails on a missing file, and on unknown keys only with --strict', async () => {
    const missing = await run('checkconfig', '-c', p('missing.json'));
    assert.equal(missing.code, 1);
    assert.match(missing.err, /config file not found/);
    const file = p('unknown.yaml');
    writeFileSync(file, 'client:\n  tokn: 1\n');
    const lax = await run('checkconfig', '-c', file);
    assert.equal(lax.code, 0);
    assert.match(lax.err, /unknown key in configuration file: client\.tokn/);
    const strict = await run('checkconfig', '-c', file, '-s');
    assert.equal(strict.code, 1);
    assert.match(strict.err, /client\.tokn: unknown key/);
  });

  // Everything `gyre serve` refuses at start-up is refused by `checkconfig` too, with the same
  // error naming the key (both run the same validation before any port opens).
  const refused: Array<[what: string, config: unknown, error: RegExp]> = [
    ...['kafka', 'google_pub_sub', 'aws_sqs', 'azure_service_bus'].map((type): [string, unknown, RegExp] => [
      `a ${type} consumer`,
      { consumers: [{ name: 'c1', enabled: true, type }] },
      new RegExp(`^error: consumers\\[0\\]\\.type: ${type} consumers are not supported by Gyre`, 'm'),
    ]),
    [
      'a map broker',
      { map_broker: { type: 'redis' } },
      /^error: map_broker\.type: "redis" is not supported/m,
    ],
    [
      'the redisnats broker',
      { broker: { enabled: true, type: 'redisnats' } },
      /^error: broker\.type: "redisnats" is not supported by Gyre/m,
    ],
    [
      'a TLS listener without its certificate',
      {
        http_server: {
          tls: { enabled: true, cert_pem: p('missing-cert.pem'), key_pem: p('missing-key.pem') },
        },
      },
      /^error: http_server\.tls\.cert_pem: not a PEM, base64 PEM or readable file/m,
    ],
    [
      'a malformed allowed origin',
      { client: { allowed_origins: ['https://[example.com'] } },
      /^error: client\.allowed_origins\[0\]: invalid pattern/m,
    ],
    [
      'an unreadable token public key',
      { client: { token: { rsa_public_key: p('missing-rsa.pem') } } },
      /^error: client\.token\.rsa_public_key: public key is neither PEM/m,
    ],
    [
      'an unsafe JWKS URL template',
      { client: { token: { jwks_public_endpoint: 'https://idp.example.com/{{realm}}/certs' } } },
      /^error: client\.token\.jwks_public_endpoint: JWKS endpoint placeholder \{\{realm\}\}/m,
    ],
    [
      'an unreadable Redis CA',
      { engine: { type: 'redis', redis: { tls: { enabled: true, server_ca_pem: p('missing-ca.pem') } } } },
      /^error: engine\.redis\.tls\.server_ca_pem: not a PEM/m,
    ],
    [
      'a malformed NATS URL',
      { broker: { enabled: true, type: 'nats', nats: { url: 'nats://bad host:4222' } } },
      /^error: broker\.nats\.url: not a valid NATS server address/m,
    ],
  ];
  for (const [what, config, error] of refused) {
    it(`checkconfig and serve both refuse ${what}, naming the key`, async () => {
      const file = p(`refused-${what.replace(/\W+/g, '-')}.json`);
      writeFileSync(file, JSON.stringify(config));
      const check = await run('checkconfig', '-c', file);
      assert.equal(check.code, 1, check.out);
      assert.match(check.err, error);
      // Only now is it safe to run serve in-process: it stops at the same validation.
      const serve = await run('serve', '-c', file, '--port', '0');
      assert.equal(serve.code, 1);
      assert.equal(serve.err, check.err);
    });
  }

  it('checkconfig refuses GYRE_WORKERS > 1 with the memory broker, as serve refuses --workers', async () => {
    const file = p('workers.json');
    writeFileSync(file, '{}');
    const io = (env: NodeJS.ProcessEnv) => {
      const r = { out: '', err: '' };
      const cio: CliIO = { out: (s) => void (r.out += s), err: (s) => void (r.err += s), env };
      return { r, cio };
    };
    const a = io({ GYRE_WORKERS: '2' });
    assert.equal(await main(['checkconfig', '-c', file], a.cio), 1);
    assert.match(a.r.err, /^error: GYRE_WORKERS=2: worker processes need a shared broker/m);
    const b = io({ GYRE_WORKERS: 'two' });
    assert.equal(await main(['checkconfig', '-c', file], b.cio), 1);
    assert.match(b.r.err, /^error: GYRE_WORKERS: must be a positive integer, got "two"/m);
    const serve = await run('serve', '-c', file, '--port', '0', '--workers', '2');
    assert.equal(serve.code, 1);
    assert.match(serve.err, /^error: --workers 2: worker processes need a shared broker/m);
    // With a shared broker several workers are fine; memory presence is only a warning.
    const redis = p('workers-redis.json');
    writeFileSync(redis, JSON.stringify({ broker: { enabled: true, type: 'redis' } }));
    const c = io({ GYRE_WORKERS: '2' });
    assert.equal(await main(['checkconfig', '-c', redis], c.cio), 0, c.r.err);
    assert.match(c.r.err, /^warning: presence_manager is memory: presence is per worker process/m);
  });

  it('checkconfig refuses bad OTEL_* exporter variables when tracing is on, as serve does', async () => {
    const file = p('otel.json');
    writeFileSync(file, JSON.stringify({ opentelemetry: { enabled: true, api: true } }));
    const err: string[] = [];
    const env = { OTEL_EXPORTER_OTLP_PROTOCOL: 'carrier-pigeon' };
    const cio: CliIO = { out: () => {}, err: (s) => void err.push(s), env };
    assert.equal(await main(['checkconfig', '-c', file], cio), 1);
    assert.match(err.join(''), /^error: OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol "carrier-pigeon"/m);
    // Without tracing the variables are not read.
    writeFileSync(file, '{}');
    assert.equal(await main(['checkconfig', '-c', file], cio), 0);
  });

  it('defaultconfig prints every default and can merge a base file', async () => {
    const dry = await run('defaultconfig', '-c', 'x.json', '-d');
    assert.equal(dry.code, 0);
    const data = JSON.parse(dry.out);
    assert.equal(data.client.ping_interval, '25s');
    assert.equal(data.http_server.port, 8000);
    const base = p('base.json');
    writeFileSync(base, '{"http_server":{"port":9999}}');
    const merged = await run('defaultconfig', '-c', 'x.yaml', '-d', '-b', base);
    assert.match(merged.out, /port: 9999/);
    const out = p('default.toml');
    const w = await run('defaultconfig', '-c', out);
    assert.equal(w.code, 0);
    const c = await run('checkconfig', '-c', out, '--strict');
    assert.equal(c.code, 0, c.err);
  });

  it('defaultenv prints env vars, optionally only non-zero base values', async () => {
    const all = await run('defaultenv');
    assert.equal(all.code, 0);
    assert.match(all.out, /^CENTRIFUGO_HTTP_SERVER_PORT="8000"$/m);
    assert.match(all.out, /^CENTRIFUGO_CLIENT_PING_INTERVAL="25s"$/m);
    const base = p('envbase.json');
    writeFileSync(base, '{"http_api":{"key":"k"}}');
    const nz = await run('defaultenv', '-b', base, '--base-non-zero-only');
    assert.match(nz.out, /^CENTRIFUGO_HTTP_API_KEY="k"$/m);
    assert.doesNotMatch(nz.out, /CENTRIFUGO_ADMIN_ENABLED/);
  });

  it('gentoken then checktoken round trip', async () => {
    const file = p('tok.json');
    writeFileSync(file, JSON.stringify({ client: { token: { hmac_secret_key: 'secret' } } }));
    const g = await run('gentoken', '-c', file, '-u', '42', '-t', '3600');
    assert.equal(g.code, 0, g.err);
    assert.match(g.out, /HMAC SHA-256 JWT for user "42" with expiration TTL 1h/);
    const q = await run('gentoken', '-c', file, '-u', '42', '-q');
    const token = q.out.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const c = await run('checktoken', '-c', file, token);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /valid token for user "42"/);
    assert.match(c.out, /"sub":"42"/);
    const bad = await run('checktoken', '-c', file, `${token}x`);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /token verification error/);
  });

  it('gentoken -t -1 omits exp and uses a custom user_id_claim', async () => {
    const file = p('tok2.json');
    writeFileSync(
      file,
      JSON.stringify({ client: { token: { hmac_secret_key: 's', user_id_claim: 'uid' } } }),
    );
    const q = await run('gentoken', '-c', file, '-u', '7', '-t', '-1', '-q');
    const payload = JSON.parse(Buffer.from(q.out.trim().split('.')[1] ?? '', 'base64url').toString());
    assert.equal(payload.uid, '7');
    assert.equal(payload.exp, undefined);
    const c = await run('checktoken', '-c', file, q.out.trim());
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /user "7" without expiration/);
  });

  it('gentoken fails without an HMAC secret', async () => {
    const file = p('nosecret.json');
    writeFileSync(file, '{}');
    const r = await run('gentoken', '-c', file, '-u', '1');
    assert.equal(r.code, 1);
    assert.match(r.err, /client\.token\.hmac_secret_key/);
  });

  it('gensubtoken then checksubtoken round trip, with subscription_token settings', async () => {
    const file = p('sub.json');
    writeFileSync(
      file,
      JSON.stringify({
        client: {
          token: { hmac_secret_key: 'conn' },
          subscription_token: { enabled: true, hmac_secret_key: 'subs' },
        },
      }),
    );
    const g = await run('gensubtoken', '-c', file, '-u', '42', '-s', 'news', '-q');
    assert.equal(g.code, 0, g.err);
    const token = g.out.trim();
    const c = await run('checksubtoken', '-c', file, token);
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /valid subscription token for user "42" and channel "news"/);
    // signed with the subscription secret, so the connection verifier refuses it
    const wrong = await run('checktoken', '-c', file, token);
    assert.equal(wrong.code, 1);
    const noChannel = await run('gensubtoken', '-c', file, '-u', '42');
    assert.notEqual(noChannel.code, 0);
    assert.match(noChannel.err, /--channel/);
  });

  it('serve refuses an invalid config before listening, listing every error', async () => {
    const file = p('serve-bad.json');
    writeFileSync(file, JSON.stringify({ log: { level: 'loud' }, client: { ping_interval: '1s' } }));
    const r = await spawnCli(['serve', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.err, /log\.level: unknown value "loud"/);
    assert.match(r.err, /client\.ping_interval: must be greater/);
    assert.doesNotMatch(r.out, /gyre listening/);
  });

  it('serve exits 1 before listening on a configuration Gyre cannot start with', async () => {
    const file = p('serve-kafka.json');
    writeFileSync(file, JSON.stringify({ consumers: [{ name: 'k1', enabled: true, type: 'kafka' }] }));
    const r = await spawnCli(['serve', '-c', file, '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.err, /consumers\[0\]\.type: kafka consumers are not supported by Gyre/);
    assert.doesNotMatch(r.out, /gyre listening/);
  });

  it('root command runs the server with flags and stops on SIGTERM with exit 0', async () => {
    const pidFile = p('gyre.pid');
    let port = 0;
    let pidWritten = false;
    const r = await spawnCli(
      ['-c', p('none.json'), '-p', '0', '--log.level', 'info', '--pid_file', pidFile, '--health.enabled'],
      (line, kill) => {
        if (!line.includes('gyre listening')) return;
        port = (JSON.parse(line) as { port: number }).port;
        pidWritten = existsSync(pidFile);
        kill('SIGTERM');
      },
    );
    assert.equal(r.code, 0, r.err);
    assert.ok(port > 0);
    assert.ok(pidWritten, 'pid file written once listening');
    assert.equal(existsSync(pidFile), false, 'pid file removed after shutdown');
    assert.match(r.out, /config file not found/);
  });
});
