/**
 * Micro-benchmark: what one `socket.write` of a prebuilt buffer costs the server here, by buffer
 * size, with no WebSocket framing and none of Gyre's code: the floor under "one write per
 * connection per publication". N bare `net` connections from a child process pinned to core 1
 * (when `taskset` exists); this process, pinned to core 0, writes the same buffer to every socket
 * once per round, then waits `--gap` ms so that no write finds the previous one still queued.
 * Server CPU = `process.cpuUsage()` over the rounds, per write, with its user / system split.
 *
 *   node --import tsx bench/micro/write-floor.ts [--conns 1000] [--sizes 100,1600,16000] [--rounds 40] [--gap 30]
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { canPin, pinProcess } from '../lib/proc.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Client side: open `conns` connections, drain whatever arrives, report when all are open. */
function child(port: number, conns: number): void {
  let settled = 0;
  const settle = (): void => {
    if (++settled === conns) process.send?.('ready');
  };
  let started = 0;
  const next = (): void => {
    if (started >= conns) return;
    started++;
    const s = net.connect(port, '127.0.0.1', () => {
      settle();
      next();
    });
    s.on('data', () => undefined);
    s.on('error', () => {
      settle();
      next();
    });
  };
  for (let i = 0; i < 100; i++) next();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      conns: { type: 'string', default: '1000' },
      sizes: { type: 'string', default: '100,1600,16000' },
      rounds: { type: 'string', default: '40' },
      gap: { type: 'string', default: '30' },
      child: { type: 'string' },
    },
  });
  const conns = Number(values.conns);
  if (values.child !== undefined) {
    child(Number(values.child), conns);
    return;
  }
  if (canPin()) pinProcess(process.pid, 0);
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('error', () => undefined);
    sockets.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const clients = fork(fileURLToPath(import.meta.url), ['--child', String(port), '--conns', String(conns)], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (canPin() && clients.pid !== undefined) pinProcess(clients.pid, 1);
  await once(clients, 'message');
  while (sockets.length < conns * 0.99) await sleep(10);
  const rounds = Number(values.rounds);
  const gap = Number(values.gap);
  console.log(`${sockets.length} sockets, ${rounds} rounds, ${gap} ms apart`);
  for (const size of values.sizes.split(',').map(Number)) {
    const buf = Buffer.alloc(size, 0x78);
    for (let warm = 0; warm < 3; warm++) {
      for (const s of sockets) s.write(buf);
      await sleep(50);
    }
    const c0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) {
      for (const s of sockets) s.write(buf);
      await sleep(gap);
    }
    const c = process.cpuUsage(c0);
    const writes = rounds * sockets.length;
    console.log(
      `size ${String(size).padStart(6)} B: ${((c.user + c.system) / writes).toFixed(2)} µs CPU per write ` +
        `(user ${(c.user / writes).toFixed(2)}, system ${(c.system / writes).toFixed(2)})`,
    );
  }
  clients.kill();
  for (const s of sockets) s.destroy();
  server.close();
}

await main();
