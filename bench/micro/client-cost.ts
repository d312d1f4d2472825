/**
 * Gyre's own per-connection cost, without sockets, HTTP or `ws`: a core `Node` with the server's
 * application handlers (`createApp` over the default config plus an HMAC secret), N clients over a
 * stub transport that drops what it is given, each connecting with an HS256 JWT and then
 * subscribing to its own channel, exactly the load generator's `connect` flow. Prints:
 *
 * - CPU per connect+subscribe (µs, wall time of the whole batch on one thread, GC included);
 * - heap per idle connection (bytes, after a full GC, `--expose-gc` required);
 * - CPU per ping round trip (server ping written, pong fed back), µs.
 *
 *   node --expose-gc --import tsx bench/micro/client-cost.ts [conns=20000] [rounds=3] [--snapshot FILE]
 *
 * `--snapshot PREFIX` writes V8 heap snapshots before and after connecting (first round) and
 * prints the growth per connection by object kind.
 */
import { writeHeapSnapshot } from 'node:v8';
import { createHmac } from 'node:crypto';
import { printHeapDiff, summarizeSnapshot } from './heap-diff.js';
import { Node } from '../../src/core/node.js';
import type { Client } from '../../src/core/client.js';
import type { ConnectionMeta, Transport } from '../../src/core/transport.js';
import { clientOptionsFrom } from '../../src/server/app.js';
import { defaultConfig } from '../../src/server/config/index.js';
import { createApp } from '../../src/server/handlers.js';
import { noopLogger } from '../../src/core/logger.js';

const args = process.argv.slice(2);
const snapAt = args.indexOf('--snapshot');
const snapshotFile = snapAt >= 0 ? args.splice(snapAt, 2)[1] : undefined;
const conns = Number(args[0] ?? 20000);
const rounds = Number(args[1] ?? 3);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';

class StubTransport implements Transport {
  readonly name = 'websocket';
  readonly protocol = 'json' as const;
  readonly unidirectional = false;
  readonly emulation = false;
  readonly protocolPing = true;
  writes = 0;
  write(): void {
    this.writes++;
  }
  close(): void {}
}

/** What the WebSocket acceptor hands over for a typical `ws` client (same header set). */
function meta(i: number): ConnectionMeta {
  return {
    headers: {
      'sec-websocket-version': '13',
      'sec-websocket-key': `${String(i).padStart(22, 'x')}==`,
      connection: 'Upgrade',
      upgrade: 'websocket',
      host: '127.0.0.1:8000',
    },
    remoteAddress: '127.0.0.1',
    url: '/connection/websocket',
  };
}

const b64url = (v: string | Buffer): string => Buffer.from(v).toString('base64url');

/** The load generator's tokens (jose `SignJWT` with an HS256 header), signed synchronously. */
function signHS256(claims: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify({ alg: 'HS256' }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(createHmac('sha256', SECRET).update(input).digest())}`;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function run(round: number): Promise<void> {
  const config = defaultConfig();
  config.client.token.hmac_secret_key = SECRET;
  config.channel.without_namespace.allow_subscribe_for_client = true;
  const app = createApp(config, noopLogger);
  const node = new Node({ client: clientOptionsFrom(config), handlers: app.handlers });
  app.setNode(node);
  await node.run();

  const exp = Math.floor(Date.now() / 1000) + 3600;
  const tokens: string[] = [];
  for (let i = 0; i < conns; i++) tokens.push(signHS256({ sub: `u${i}`, exp }));
  const connectFrames = tokens.map((t) => Buffer.from(JSON.stringify({ id: 1, connect: { token: t } })));
  const subFrames = tokens.map((_, i) =>
    Buffer.from(JSON.stringify({ id: 2, subscribe: { channel: `c${i}` } })),
  );
  const transports: StubTransport[] = [];
  const clients: Client[] = [];

  gc!();
  const heap0 = process.memoryUsage().heapUsed;
  const snap0 =
    snapshotFile !== undefined && round === 1 ? writeHeapSnapshot(`${snapshotFile}.0.heapsnapshot`) : '';
  const t0 = process.cpuUsage();
  // Batches of 100 in flight, like the load generator's concurrency.
  for (let i = 0; i < conns; i += 100) {
    const end = Math.min(conns, i + 100);
    for (let j = i; j < end; j++) {
      const t = new StubTransport();
      transports.push(t);
      clients.push(node.handleTransport(t, meta(j)));
      clients[j]!.handleData(connectFrames[j]!);
    }
    await tick();
    await tick();
    for (let j = i; j < end; j++) clients[j]!.handleData(subFrames[j]!);
    await tick();
    await tick();
  }
  const cpu = process.cpuUsage(t0);
  const connected = clients.filter((c) => c.state === 'connected' && c.subs.size === 1).length;
  gc!();
  gc!();
  const heap1 = process.memoryUsage().heapUsed;
  const snap1 = snap0 !== '' ? writeHeapSnapshot(`${snapshotFile}.1.heapsnapshot`) : '';

  // Ping round trips: what the wheel's ping task does, then the pong the client sends back.
  const sendPing = (c: Client): void => (c as unknown as { sendPing(): void }).sendPing();
  const pong = Buffer.from('{}');
  const p0 = process.cpuUsage();
  for (let k = 0; k < 5; k++) {
    for (const c of clients) sendPing(c);
    await tick();
    for (const c of clients) c.handleData(pong);
    await tick();
  }
  const pcpu = process.cpuUsage(p0);
  const open = clients.filter((c) => c.state === 'connected').length;

  console.log(
    `round ${round}: ${connected}/${conns} connected+subscribed; ` +
      `cpu/connect ${((cpu.user + cpu.system) / conns).toFixed(1)} µs; ` +
      `heap/conn ${((heap1 - heap0) / conns).toFixed(0)} B; ` +
      `cpu/ping round trip ${((pcpu.user + pcpu.system) / (conns * 5)).toFixed(2)} µs; ` +
      `writes/conn ${(transports.reduce((s, t) => s + t.writes, 0) / conns).toFixed(2)}; still open ${open}`,
  );
  if (snap1 !== '') printHeapDiff(summarizeSnapshot(snap0), summarizeSnapshot(snap1), conns, 40);
  await node.shutdown();
  app.close();
}

for (let r = 1; r <= rounds; r++) await run(r);
