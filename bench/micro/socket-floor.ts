/**
 * Micro-benchmark: what Node's socket layer costs the server per WebSocket connect and per
 * protocol ping round trip, by path, without any of Gyre's own work. It answers "how much of a
 * connect or a ping is ours, and how much would a leaner path through Node save?".
 *
 * Connect modes (server CPU per accepted upgrade, the socket kept open):
 * - `connect/http+ws`: `http.Server` `upgrade` event + `ws` `handleUpgrade` (what Gyre did until
 *   2026-12-05);
 * - `connect/http+gyre`: `http.Server` `upgrade` event + Gyre's own `acceptWebSocket` and
 *   `ServerWebSocket` (what Gyre does, without the client protocol on top);
 * - `connect/http+hand`: `http.Server` `upgrade` event, 101 answer written by hand (no `ws`);
 * - `connect/net+hand`: a bare `net.Server`, request head parsed and 101 written by hand;
 * - `connect/http+hand+2rt`: `connect/http+hand` followed by two command/reply round trips, each a
 *   masked 120-byte client frame read by a minimal parser and a 100-byte reply frame written back:
 *   the floor of the load generator's connect flow (upgrade, `connect`, `subscribe`) in Node,
 *   with none of Gyre's work (no JWT, no JSON, no client state).
 *
 * Ping modes (server CPU per round trip: the server writes a `{}` text frame to every socket, each
 * client answers with a masked `{}` frame, the server reads it):
 * - `ping/ws`: frames read by `ws` (`message` event), as Gyre did;
 * - `ping/gyre`: frames read by Gyre's `ServerWebSocket` (its `message` handler), as Gyre does;
 * - `ping/data`: frames read by a minimal parser on the socket's `data` event (counts frames only).
 *
 * The clients are bare `net` sockets in a child process pinned to core 1 (the server side runs
 * here, pinned to core 0, when `taskset` exists), so the client costs as little as possible.
 *
 *   node --import tsx bench/micro/socket-floor.ts [--conns 5000] [--rounds 20]
 *     [--modes connect/http+ws,connect/http+gyre,connect/http+hand,connect/net+hand,ping/ws,ping/gyre,ping/data]
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  acceptWebSocket,
  ServerWebSocket,
  type WebSocketHandlers,
} from '../../src/transports/websocket/server-socket.js';
import { canPin, pinProcess } from '../lib/proc.js';

const MODES = [
  'connect/http+ws',
  'connect/http+gyre',
  'connect/http+hand',
  'connect/net+hand',
  'connect/http+hand+2rt',
  'ping/ws',
  'ping/gyre',
  'ping/data',
] as const;
type Mode = (typeof MODES)[number];

interface ToChild {
  open?: { port: number; conns: number; roundTrips: number };
  ping?: true;
  close?: true;
}
interface FromChild {
  opened?: number;
  pongs?: true;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
/** Masked text frame `{}` with a zero mask key (the payload is unchanged by masking). */
const CLIENT_PONG = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x7b, 0x7d]);
const SERVER_PING = Buffer.from([0x81, 0x02, 0x7b, 0x7d]);
/** A masked 120-byte client text frame (zero mask key), standing in for `connect` / `subscribe`. */
const CLIENT_COMMAND = Buffer.concat([Buffer.from([0x81, 0x80 | 120, 0, 0, 0, 0]), Buffer.alloc(120, 0x61)]);
/** A 100-byte server text frame, standing in for the reply. */
const SERVER_REPLY = Buffer.concat([Buffer.from([0x81, 100]), Buffer.alloc(100, 0x62)]);

// ---------------------------------------------------------------- client side (child process)

function child(): void {
  const sockets: net.Socket[] = [];
  let awaiting = 0;
  process.on('message', (m: ToChild) => {
    if (m.open) open(m.open.port, m.open.conns, m.open.roundTrips);
    if (m.ping) awaiting = sockets.length;
    if (m.close) {
      for (const s of sockets) s.destroy();
      process.exit(0);
    }
  });
  function open(port: number, conns: number, roundTrips: number): void {
    const request =
      `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    let started = 0;
    let done = 0;
    const inFlight = 50;
    const next = (): void => {
      if (started >= conns) return;
      started++;
      const s = net.connect(port, '127.0.0.1');
      s.setNoDelay(true);
      let upgraded = false;
      let trips = roundTrips;
      s.on('connect', () => s.write(request));
      s.on('data', (chunk) => {
        if (!upgraded || trips > 0) {
          if (!upgraded) {
            if (chunk.indexOf('\r\n\r\n') === -1) return;
            upgraded = true;
          } else trips--; // a reply (one small frame per read here)
          if (trips > 0) {
            s.write(CLIENT_COMMAND);
            return;
          }
          sockets.push(s);
          done++;
          if (done === conns) process.send?.({ opened: done } satisfies FromChild);
          next();
          return;
        }
        // Every server frame here is one `{}` ping: answer each.
        for (let i = 0; i < chunk.length; i += SERVER_PING.length) s.write(CLIENT_PONG);
        awaiting--;
        if (awaiting === 0) process.send?.({ pongs: true } satisfies FromChild);
      });
      s.on('error', () => undefined);
    };
    for (let i = 0; i < inFlight; i++) next();
  }
}

// ---------------------------------------------------------------- server side

function acceptKey(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

function answer101(socket: Duplex, key: string): void {
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
  );
}

/** Minimal client-frame parser: counts complete frames (small, masked, unfragmented). */
function frameCounter(onFrame: () => void): (chunk: Buffer) => void {
  let pending: Buffer | undefined;
  return (chunk) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    let off = 0;
    while (buf.length - off >= 2) {
      const len = (buf[off + 1] as number) & 0x7f;
      const size = 2 + 4 + len;
      if (buf.length - off < size) break;
      const mask = buf.readUInt32BE(off + 2);
      if (mask !== 0) {
        for (let i = 0; i < len; i++) {
          buf[off + 6 + i] = (buf[off + 6 + i] as number) ^ (buf[off + 2 + (i & 3)] as number);
        }
      }
      off += size;
      onFrame();
    }
    if (off < buf.length) pending = buf.subarray(off);
  };
}

interface Server {
  port: number;
  sockets: Duplex[];
  pings: number;
  close(): void;
}

async function startServer(mode: Mode): Promise<Server> {
  const sockets: Duplex[] = [];
  const state: Server = { port: 0, sockets, pings: 0, close: () => undefined };
  const count = (): void => {
    state.pings++;
  };
  let server: net.Server;
  if (mode === 'connect/net+hand') {
    server = net.createServer((socket) => {
      socket.setNoDelay(true);
      let head = '';
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        const m = /\r\nsec-websocket-key:\s*([^\r]+)/i.exec(head);
        answer101(socket, m?.[1]?.trim() ?? '');
        sockets.push(socket);
      };
      socket.on('data', onData);
      socket.on('error', () => undefined);
    });
  } else {
    const hs = http.createServer((_req, res) => res.end());
    server = hs;
    const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
    const handlers: WebSocketHandlers = { message: count, close: () => undefined };
    const options = { deflate: false, maxMessageSize: 65536 };
    hs.on('upgrade', (req: http.IncomingMessage, socket: Duplex, headBuf: Buffer) => {
      socket.on('error', () => undefined);
      if (mode === 'connect/http+gyre' || mode === 'ping/gyre') {
        const ws = acceptWebSocket(req, socket, options, handlers);
        if (ws instanceof ServerWebSocket) {
          ws.start(headBuf);
          sockets.push(socket);
        }
        return;
      }
      if (mode === 'connect/http+hand+2rt') {
        answer101(socket, String(req.headers['sec-websocket-key']));
        const parse = frameCounter(() => socket.write(SERVER_REPLY));
        socket.on('data', parse);
        if (headBuf.length > 0) parse(headBuf);
        sockets.push(socket);
        return;
      }
      if (mode === 'connect/http+hand' || mode === 'ping/data') {
        answer101(socket, String(req.headers['sec-websocket-key']));
        if (mode === 'ping/data') {
          const parse = frameCounter(count);
          socket.on('data', parse);
          if (headBuf.length > 0) parse(headBuf);
        }
        sockets.push(socket);
        return;
      }
      wss.handleUpgrade(req, socket, headBuf, (ws: WebSocket) => {
        ws.on('message', count);
        ws.on('error', () => undefined);
        sockets.push(socket);
      });
    });
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  state.close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return state;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function runMode(
  mode: Mode,
  conns: number,
  rounds: number,
  burst: number,
  gap: number,
): Promise<string> {
  const server = await startServer(mode);
  const worker = fork(fileURLToPath(import.meta.url), ['--child'], {
    execArgv: process.execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (canPin() && worker.pid !== undefined) pinProcess(worker.pid, 1);
  const next = (what: keyof FromChild): Promise<void> =>
    new Promise((resolve) => {
      const on = (m: FromChild): void => {
        if (m[what] === undefined) return;
        worker.off('message', on);
        resolve();
      };
      worker.on('message', on);
    });
  // Warm-up connects are not counted: Node's first upgrades compile the code paths.
  global.gc?.();
  const t0 = Date.now();
  const c0 = cpuMicros();
  const roundTrips = mode === 'connect/http+hand+2rt' ? 2 : 0;
  worker.send({ open: { port: server.port, conns, roundTrips } } satisfies ToChild);
  await next('opened');
  const connectCpu = cpuMicros() - c0;
  const connectMs = Date.now() - t0;
  let line = `${mode.padEnd(18)} conns ${conns}: ${(connectCpu / conns).toFixed(1)} µs CPU/connect, ${Math.round((conns / connectMs) * 1000)}/s`;
  if (mode.startsWith('ping/')) {
    await new Promise((r) => setTimeout(r, 500));
    let cpu = 0;
    for (let r = 0; r < rounds; r++) {
      const before = server.pings;
      const c1 = cpuMicros();
      const done = next('pongs');
      worker.send({ ping: true } satisfies ToChild);
      for (let i = 0; i < server.sockets.length; i += burst) {
        if (i > 0 && gap > 0) await new Promise((res) => setTimeout(res, gap));
        for (const s of server.sockets.slice(i, i + burst)) s.write(SERVER_PING);
      }
      await done;
      while (server.pings - before < conns) await new Promise((res) => setImmediate(res));
      cpu += cpuMicros() - c1;
      await new Promise((res) => setTimeout(res, 50));
    }
    line += `; ${(cpu / (conns * rounds)).toFixed(2)} µs CPU per ping round trip`;
  }
  worker.send({ close: true } satisfies ToChild);
  await once(worker, 'exit');
  server.close();
  return line;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      conns: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '20' },
      modes: { type: 'string', default: MODES.join(',') },
      burst: { type: 'string', default: '1000000' },
      gap: { type: 'string', default: '0' },
      child: { type: 'boolean', default: false },
    },
  });
  if (values.child) {
    child();
    return;
  }
  if (canPin()) pinProcess(process.pid, 0);
  const conns = Number(values.conns);
  const rounds = Number(values.rounds);
  for (const m of values.modes.split(',') as Mode[]) {
    if (!MODES.includes(m)) throw new Error(`unknown mode ${m}`);
    console.log(await runMode(m, conns, rounds, Number(values.burst), Number(values.gap)));
  }
  process.exit(0);
}

await main();
