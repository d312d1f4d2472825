/**
 * SIGHUP reload of `gyre serve -c <file>`: the file is rewritten, the process gets SIGHUP, and the
 * new token settings and channel namespaces apply to new commands while connected clients stay;
 * a broken file keeps the running settings and the server keeps serving. With `--workers 2`, the
 * primary forwards SIGHUP to every worker.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  apiPost,
  connectClient,
  jsonClient,
  record,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { API_KEY, decodeData, merge, uniq } from '../helpers/e2e-config.js';
import { serializeConfig, startGyre, type Cleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping the --workers reload test: ${skip}`);

const OLD_SECRET = 'reload-old-secret-0123456789';
const NEW_SECRET = 'reload-new-secret-9876543210';

interface LogLine {
  pid: number;
  msg: string;
  [k: string]: unknown;
}

/** Every JSON log line the server wrote so far. */
function logLines(g: RunningGyre): LogLine[] {
  const out: LogLine[] = [];
  for (const line of g.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a partial line still being written
    }
  }
  return out;
}

function withMsg(g: RunningGyre, msg: string): LogLine[] {
  return logLines(g).filter((l) => l.msg === msg);
}

const RELOADED = 'configuration successfully reloaded';
const REFUSED = 'error reloading configuration, the running configuration is kept';

/** The config file before the reload: old secret, channels without namespace open to clients. */
function firstConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(
    {
      client: { token: { hmac_secret_key: OLD_SECRET } },
      http_api: { key: API_KEY },
      log: { level: 'info' },
      shutdown: { timeout: '5s' },
      channel: { without_namespace: { allow_subscribe_for_client: true } },
    },
    extra,
  );
}

/** After the reload: new secret and a `news` namespace clients may subscribe to. */
function secondConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(
    firstConfig(extra),
    { client: { token: { hmac_secret_key: NEW_SECRET } } },
    { channel: { namespaces: [{ name: 'news', allow_subscribe_for_client: true }] } },
  );
}

/** Connects an SDK client with an HS256 token for a fresh user. */
async function connected(g: RunningGyre, t: Cleanup, secret: string): Promise<SdkClient> {
  const c = jsonClient(g.wsUrl, { token: await hs256Token(secret, { sub: uniq('u') }) }, t);
  await connectClient(c);
  return c;
}

/** Connects with a token the server must refuse; resolves with the disconnect code. */
async function refusedCode(g: RunningGyre, t: Cleanup, secret: string): Promise<number> {
  const c = jsonClient(g.wsUrl, { token: await hs256Token(secret, { sub: uniq('u') }) }, t);
  const log = record(c);
  c.connect();
  const ctx = (await waitEvent(log, 'disconnected')) as { code: number };
  assert.equal(log.filter((r) => r.event === 'connected').length, 0);
  return ctx.code;
}

/** Subscribes and resolves with 0 when subscribed, else the unsubscribed code. */
async function subscribeOutcome(c: SdkClient, channel: string): Promise<number> {
  const sub = c.newSubscription(channel);
  const log = record(sub);
  sub.subscribe();
  await waitFor(() => log.some((r) => r.event === 'subscribed' || r.event === 'unsubscribed'), 5000, channel);
  const un = log.find((r) => r.event === 'unsubscribed');
  c.removeSubscription(sub);
  return un ? (un.ctx as { code: number }).code : 0;
}

/** Rewrites the config file and sends SIGHUP; resolves once `msg` was logged `count` times. */
async function rewriteAndHangUp(g: RunningGyre, text: string, msg: string, count: number): Promise<void> {
  const before = withMsg(g, msg).length;
  writeFileSync(g.configFile, text);
  g.proc.kill('SIGHUP');
  await waitFor(() => withMsg(g, msg).length >= before + count, 10_000, `"${msg}" logged ${count} time(s)`);
}

void describe('SIGHUP reload', () => {
  test('a new HMAC secret and a new namespace apply without a restart; a broken file changes nothing', async (t) => {
    const g = await startGyre(t, { config: firstConfig() });

    // Before: the old secret connects, the `news` namespace does not exist.
    const early = await connected(g, t, OLD_SECRET);
    const earlyLog = record(early);
    const room = uniq('room');
    const { log: roomLog } = await subscribeAndWait(early, room);
    assert.equal(await subscribeOutcome(early, 'news:1'), 102);
    assert.equal(await refusedCode(g, t, NEW_SECRET), 3500);

    // Reload: new secret, new namespace, and a key that needs a restart.
    await rewriteAndHangUp(
      g,
      serializeConfig(secondConfig({ client: { allowed_origins: ['https://example.com'] } }), 'json'),
      RELOADED,
      1,
    );
    const done = withMsg(g, RELOADED).at(-1)!;
    assert.deepEqual(done['applied'], ['client.token.hmac_secret_key', 'channel.namespaces']);
    const notApplied = logLines(g).find((l) => /changed but not applied by reload/.test(l.msg));
    assert.deepEqual(notApplied?.['keys'], ['client.allowed_origins']);
    assert.ok(!g.output().includes(NEW_SECRET), 'secrets are not logged');

    // New connects use the new secret: the old one is refused as Centrifugo refuses it (3500).
    const fresh = await connected(g, t, NEW_SECRET);
    assert.equal(await refusedCode(g, t, OLD_SECRET), 3500);
    // The new namespace works, for new clients and for the one connected before the reload.
    assert.equal(await subscribeOutcome(fresh, 'news:1'), 0);
    assert.equal(await subscribeOutcome(early, 'news:2'), 0);
    // The early client never left and still gets publications in its old subscription.
    assert.equal(early.state, 'connected');
    assert.equal(earlyLog.filter((r) => r.event === 'disconnected').length, 0);
    await apiPost(`${g.apiUrl}/publish`, { channel: room, data: { n: 1 } }, { 'X-API-Key': API_KEY });
    assert.deepEqual(decodeData((await waitEvent(roomLog, 'publication')).data), { n: 1 });

    // A file that does not parse: logged, the running settings stay.
    await rewriteAndHangUp(g, '{"client": {', REFUSED, 1);
    assert.match(String(withMsg(g, REFUSED).at(-1)!['error']), /error parsing config file/);

    // A file with an invalid value: the log names the key, the running settings stay.
    const invalid = merge(secondConfig(), {
      client: { token: { hmac_secret_key: 'third-secret-that-must-not-apply' } },
      channel: { namespaces: [{ name: 'news' }, { name: 'bad name!' }] },
    });
    await rewriteAndHangUp(g, serializeConfig(invalid, 'json'), REFUSED, 1);
    const refused = withMsg(g, REFUSED).at(-1)!;
    assert.equal(refused['key'], 'channel.namespaces[1].name');
    assert.match(String(refused['error']), /invalid namespace name "bad name!"/);

    // Still serving, with the settings of the last good reload.
    assert.equal(g.proc.exitCode, null);
    await connected(g, t, NEW_SECRET);
    assert.equal(await refusedCode(g, t, 'third-secret-that-must-not-apply'), 3500);
    assert.equal(await subscribeOutcome(fresh, 'news:3'), 0);
    assert.equal(early.state, 'connected');

    const stopped = await g.stop('SIGTERM');
    assert.equal(stopped.code, 0);
  });

  test('with --workers 2 the primary forwards SIGHUP and every worker reloads', { skip }, async (t) => {
    const prefix = `gyre-e2e-${randomUUID().slice(0, 8)}`;
    const engine = { engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix } } };
    const g = await startGyre(t, { config: firstConfig(engine), args: ['--workers', '2'] });
    const workerPids = await waitFor(() => {
      const pids = withMsg(g, 'gyre listening').map((l) => l.pid);
      return pids.length === 2 ? pids : undefined;
    }, 15_000);
    const early = await connected(g, t, OLD_SECRET);

    await rewriteAndHangUp(g, serializeConfig(secondConfig(engine), 'json'), RELOADED, 2);
    assert.deepEqual(
      withMsg(g, RELOADED)
        .map((l) => l.pid)
        .sort(),
      [...workerPids].sort(),
      'each worker reloaded once',
    );
    const forwarded = logLines(g).find((l) => /forwarding SIGHUP/.test(l.msg));
    assert.ok(forwarded !== undefined && !workerPids.includes(forwarded.pid), 'the primary forwarded it');

    // Connections are spread over both workers; every one of them uses the new settings.
    for (let i = 0; i < 4; i++) {
      const c = await connected(g, t, NEW_SECRET);
      assert.equal(await subscribeOutcome(c, `news:${i}`), 0);
      assert.equal(await refusedCode(g, t, OLD_SECRET), 3500);
    }
    assert.equal(early.state, 'connected');
    assert.equal(withMsg(g, 'gyre listening').length, 2, 'no worker was restarted');

    const stopped = await g.stop('SIGTERM');
    assert.equal(stopped.code, 0);
  });
});
