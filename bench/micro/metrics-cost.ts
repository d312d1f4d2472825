/**
 * Micro-benchmark: what Prometheus metrics cost on the hot paths, metrics off (core's no-op hooks)
 * against on (`PrometheusMetrics`), in one process without sockets:
 *
 * - fan-out: N clients over a stub transport subscribed to one channel; each round publishes one
 *   message through the node and waits for every writer to flush. CPU per delivery (µs).
 * - commands: every client sends a `presence_stats` command per round (a command that answers
 *   from the node's presence manager at once). CPU per command round trip (µs), incl. the reply.
 *
 * One mode per process (so that V8 sees one metrics implementation, as a server does); run the
 * modes alternately a few times and compare the medians over rounds.
 *
 *   for i in 1 2 3; do for m in off on; do
 *     node --import tsx bench/micro/metrics-cost.ts --mode $m [--conns 5000] [--rounds 20] [--publications 20]
 *   done; done
 */
import { parseArgs } from 'node:util';
import type { Client } from '../../src/core/client.js';
import type { NodeHandlers } from '../../src/core/handlers.js';
import { Node } from '../../src/core/node.js';
import type { Transport } from '../../src/core/transport.js';
import { PrometheusMetrics } from '../../src/server/metrics/index.js';

const { values } = parseArgs({
  options: {
    conns: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '40' },
    publications: { type: 'string', default: '20' },
    mode: { type: 'string', default: 'off' },
  },
});
if (values.mode !== 'off' && values.mode !== 'on') throw new Error('--mode off|on');
const conns = Number(values.conns);
const rounds = Number(values.rounds);
const pubs = Number(values.publications);

class StubTransport implements Transport {
  readonly name = 'websocket';
  readonly protocol = 'json' as const;
  readonly unidirectional = false;
  readonly emulation = false;
  readonly protocolPing = true;
  messages = 0;
  write(m: readonly Uint8Array[]): void {
    this.messages += m.length;
  }
  close(): void {}
}

const handlers: NodeHandlers = {
  onConnecting: async () => ({ credentials: { userId: 'u' } }),
  onSubscribe: async () => ({ options: {} }),
  onPresenceStats: async () => {},
};

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Setup {
  node: Node;
  clients: Client[];
  transports: StubTransport[];
}

async function setup(metrics: boolean): Promise<Setup> {
  const m = metrics ? new PrometheusMetrics({ version: 'bench', processMetrics: false }) : undefined;
  const node = new Node({ handlers, ...(m ? { metrics: m } : {}) });
  m?.bindNode(node);
  await node.run();
  const clients: Client[] = [];
  const transports: StubTransport[] = [];
  const connect = Buffer.from('{"id":1,"connect":{}}');
  const subscribe = Buffer.from('{"id":2,"subscribe":{"channel":"bench"}}');
  for (let i = 0; i < conns; i++) {
    const t = new StubTransport();
    transports.push(t);
    const c = node.handleTransport(t, { headers: {} });
    clients.push(c);
    c.handleData(connect);
  }
  await tick();
  await tick();
  for (const c of clients) c.handleData(subscribe);
  for (let i = 0; i < 5; i++) await tick();
  if (node.hub.numSubs !== conns) throw new Error(`only ${node.hub.numSubs}/${conns} subscribed`);
  return { node, clients, transports };
}

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function fanoutRound(s: Setup): Promise<number> {
  const before = s.transports.reduce((n, t) => n + t.messages, 0);
  const data = Buffer.from('{"t":1234567890123,"s":1,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}');
  const t0 = cpu();
  for (let i = 0; i < pubs; i++) {
    await s.node.publish('bench', data);
    await tick();
  }
  await tick();
  const used = cpu() - t0;
  const delivered = s.transports.reduce((n, t) => n + t.messages, 0) - before;
  if (delivered !== pubs * conns) throw new Error(`delivered ${delivered}, expected ${pubs * conns}`);
  return used / delivered;
}

let nextId = 3;
async function commandRound(s: Setup): Promise<number> {
  const frames = s.clients.map(() => Buffer.from(`{"id":${nextId},"presence_stats":{"channel":"bench"}}`));
  nextId++;
  const before = s.transports.reduce((n, t) => n + t.messages, 0);
  const t0 = cpu();
  for (let i = 0; i < s.clients.length; i++) (s.clients[i] as Client).handleData(frames[i] as Buffer);
  for (let i = 0; i < 4; i++) await tick();
  const used = cpu() - t0;
  const replies = s.transports.reduce((n, t) => n + t.messages, 0) - before;
  if (replies !== conns) throw new Error(`replies ${replies}, expected ${conns}`);
  return used / replies;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

const s = await setup(values.mode === 'on');
const fan: number[] = [];
const cmd: number[] = [];
// Warm-up.
await fanoutRound(s);
await commandRound(s);
for (let i = 0; i < rounds; i++) {
  fan.push(await fanoutRound(s));
  cmd.push(await commandRound(s));
}
const f = (x: number): string => x.toFixed(3);
console.log(
  `metrics ${values.mode}: conns ${conns}, ${rounds} rounds x ${pubs} publications; medians: ` +
    `fan-out ${f(median(fan))} µs/delivery, commands ${f(median(cmd))} µs/command`,
);
await s.node.shutdown();
