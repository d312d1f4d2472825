/**
 * Plain `ws` clients for the write-path micro-benchmarks (`ws-fanout.ts`, `uni-ws-fanout.ts`): N
 * connections opened from a child process pinned to core 1 (when `taskset` exists), so the
 * benchmark process measures only the server side. The child counts the messages its sockets
 * receive and reports the count every 5 ms.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { canPin, pinProcess } from '../lib/proc.js';

interface ToChild {
  open?: { url: string; conns: number; deflate: boolean; protocol?: string };
  close?: true;
}
interface FromChild {
  opened?: number;
  received?: number;
  /** Every socket negotiated permessage-deflate. */
  compressed?: boolean;
}

export interface ClientFleetOptions {
  /** Offer permessage-deflate. */
  deflate: boolean;
  /** WebSocket subprotocol to ask for, if any. */
  protocol?: string;
}

/** The running clients, as the benchmark process sees them. */
export interface ClientFleet {
  /** Messages received by all sockets so far (updated every 5 ms). */
  readonly received: number;
  /** Every socket negotiated permessage-deflate. */
  readonly compressed: boolean;
  /** Resolves once `n` messages have arrived in all, or after `timeoutMs` (check `received`). */
  waitReceived(n: number, timeoutMs?: number): Promise<void>;
  /** Closes every socket and waits for the child process to exit. */
  close(): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The round settings both write-path micro-benchmarks share. */
export interface RoundOptions {
  conns: number;
  rounds: number;
  /** ms between rounds (10 rounds/s by default, so no flush holds two rounds' messages). */
  gap: number;
  /** Bytes of publication data per message. */
  size: number;
  /** Messages per socket per round (one write holding them all). */
  batch: number;
}

/**
 * The timed part of a write-path micro-benchmark: each round encodes `o.batch` pushes of
 * `o.size`-byte data with `encode`, hands them to `write` (which writes them to every socket),
 * waits until the clients have received `perRound` more messages, then sleeps `o.gap` ms.
 * Resolves with this process's CPU (all threads, zlib's included) per socket per round in µs;
 * throws when a round's messages did not all arrive.
 */
export async function timedRounds(
  fleet: ClientFleet,
  o: RoundOptions,
  encode: (data: Buffer) => Uint8Array,
  write: (batch: Uint8Array[]) => void,
  perRound: number,
): Promise<number> {
  const padding = 'x'.repeat(Math.max(0, o.size - 30));
  const start = process.cpuUsage();
  let expected = fleet.received;
  for (let r = 0; r < o.rounds; r++) {
    write(
      Array.from({ length: o.batch }, (_, i) =>
        encode(Buffer.from(`{"t":${Date.now()},"s":${r},"i":${i},"p":"${padding}"}`)),
      ),
    );
    expected += perRound;
    await fleet.waitReceived(expected);
    await sleep(o.gap);
  }
  const used = process.cpuUsage(start);
  if (fleet.received < expected) throw new Error(`received ${fleet.received} of ${expected}`);
  return (used.user + used.system) / (o.rounds * o.conns);
}

/** Forks the child, opens `conns` sockets to `url` (100 at a time) and resolves once all are open. */
export async function startClientFleet(
  url: string,
  conns: number,
  o: ClientFleetOptions,
): Promise<ClientFleet> {
  const kid: ChildProcess = fork(fileURLToPath(import.meta.url), ['--fleet-child'], {
    execArgv: ['--import', 'tsx'],
  });
  if (canPin() && kid.pid !== undefined) pinProcess(kid.pid, 1);
  let received = 0;
  let opened = -1;
  let compressed = false;
  kid.on('message', (m: FromChild) => {
    if (m.received !== undefined) received = m.received;
    if (m.opened !== undefined) opened = m.opened;
    if (m.compressed !== undefined) compressed = m.compressed;
  });
  const open: NonNullable<ToChild['open']> = { url, conns, deflate: o.deflate };
  if (o.protocol !== undefined) open.protocol = o.protocol;
  kid.send({ open } satisfies ToChild);
  while (opened < 0) await sleep(20);
  if (opened !== conns) throw new Error(`opened ${opened} of ${conns} client sockets`);
  return {
    get received() {
      return received;
    },
    get compressed() {
      return compressed;
    },
    async waitReceived(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received < n && Date.now() < deadline) await sleep(2);
    },
    async close() {
      kid.send({ close: true } satisfies ToChild);
      await once(kid, 'exit');
    },
  };
}

function child(): void {
  const sockets: WebSocket[] = [];
  let received = 0;
  process.on('message', (m: ToChild) => {
    if (m.open) void openAll(m.open);
    if (m.close) {
      for (const s of sockets) s.terminate();
      process.exit(0);
    }
  });
  setInterval(() => process.send?.({ received } satisfies FromChild), 5).unref();
  async function openAll(o: NonNullable<ToChild['open']>): Promise<void> {
    for (let i = 0; i < o.conns; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, o.conns - i) }, async () => {
          const ws = new WebSocket(o.url, o.protocol ?? [], { perMessageDeflate: o.deflate });
          ws.on('message', () => received++);
          ws.on('error', () => {});
          await once(ws, 'open');
          sockets.push(ws);
        }),
      );
    }
    const compressed = sockets.every((s) => s.extensions.includes('permessage-deflate'));
    process.send?.({ opened: sockets.length, compressed } satisfies FromChild);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--fleet-child')) child();
}
