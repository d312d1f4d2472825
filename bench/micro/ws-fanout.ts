/**
 * Micro-benchmark: server CPU per socket write of broadcast messages written to N WebSocket
 * connections, by write path, without the rest of Gyre (no HTTP API, no client state):
 *
 * - `ws.send`: a `ws` server and its `send` per socket (what Gyre did before, and what the plain-ws
 *   baseline does): ws builds a header per socket and writes header + payload with cork/writev;
 * - `frame/shared`: `WebSocketTransport.write` of a broadcast message (`markShared`): the frame is
 *   built once and the same Buffer is written to every socket;
 * - `frame/unshared`: the same with a message that is not marked shared: a frame built per socket;
 * - `deflate/ws.send`: ws compresses per socket (permessage-deflate, no context takeover, no
 *   threshold);
 * - `deflate/shared`: the transport compresses once per broadcast and writes the same frame.
 *
 * The clients (plain `ws` clients, permessage-deflate on for the deflate modes) run in a child
 * process pinned to core 1, the server side in this process pinned to core 0 (when `taskset`
 * exists). Every round writes one message to every socket, then waits for the clients to have
 * received it and for `--gap` ms (10 rounds/s by default, so no flush holds two messages). Server
 * CPU = `process.cpuUsage()` of this process over the rounds (all threads, zlib's included).
 *
 * `--batch K` writes K messages per socket per round (one flush holding K broadcasts, as under load);
 * the CPU figure is then per socket write, not per message.
 *
 *   node --import tsx bench/micro/ws-fanout.ts [--conns 5000] [--rounds 50] [--gap 100] [--size 64] [--batch 1]
 *     [--modes ws.send,frame/shared,frame/unshared,deflate/ws.send,deflate/shared]
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { markShared } from '../../src/core/encoded.js';
import type { Transport } from '../../src/core/transport.js';
import { jsonCodec } from '../../src/protocol/index.js';
import { WebSocketAcceptor } from '../../src/transports/websocket/acceptor.js';
import type { WebSocketTransport } from '../../src/transports/websocket/transport.js';
import { canPin, pinProcess } from '../lib/proc.js';
import { sleep, startClientFleet, timedRounds, type RoundOptions } from './ws-clients.js';

const MODES = ['ws.send', 'frame/shared', 'frame/unshared', 'deflate/ws.send', 'deflate/shared'] as const;
type Mode = (typeof MODES)[number];

// ---------------------------------------------------------------- server side

async function runMode(mode: Mode, o: RoundOptions): Promise<number> {
  const deflate = mode.startsWith('deflate/');
  if (mode.endsWith('ws.send')) return runWsSend(deflate, o);
  const transports: WebSocketTransport[] = [];
  const acceptor = new WebSocketAcceptor({
    messageSizeLimit: 65536,
    writeTimeout: 0,
    pingInterval: 0,
    pongTimeout: 0,
    ...(deflate ? { compression: { level: 1, minSize: 0 } } : {}),
    onConnection: (t: Transport) => {
      transports.push(t as WebSocketTransport);
      return { handleData: () => {}, handleClose: () => {} };
    },
  });
  const server = http.createServer();
  server.on('upgrade', (req, socket, head: Buffer) => acceptor.handleUpgrade(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connection/websocket`;

  const fleet = await startClientFleet(url, o.conns, { deflate, protocol: 'centrifuge-json' });
  if (transports.length !== o.conns) throw new Error(`accepted ${transports.length}`);
  if (deflate && transports.some((t) => t.deflate === undefined)) throw new Error('deflate not negotiated');
  await sleep(200);

  const us = await timedRounds(
    fleet,
    o,
    (data) => jsonCodec.encodeReply({ push: { channel: 'c', pub: { data } } }),
    (batch) => {
      if (mode === 'frame/shared' || mode === 'deflate/shared') for (const m of batch) markShared(m);
      for (const t of transports) t.write(batch);
    },
    o.conns,
  );
  await fleet.close();
  acceptor.close();
  server.close();
  return us;
}

/** The `ws.send` modes: a `ws` server (compressing everything when `deflate`), send per socket. */
async function runWsSend(deflate: boolean, o: RoundOptions): Promise<number> {
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: deflate
      ? { serverNoContextTakeover: true, clientNoContextTakeover: true, threshold: 0 }
      : false,
  });
  const server = http.createServer();
  server.on('upgrade', (req, socket, head: Buffer) =>
    wss.handleUpgrade(req, socket, head, (ws) => sockets.push(ws)),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connection/websocket`;
  const fleet = await startClientFleet(url, o.conns, { deflate, protocol: 'centrifuge-json' });
  if (sockets.length !== o.conns) throw new Error(`accepted ${sockets.length}`);
  await sleep(200);
  const us = await timedRounds(
    fleet,
    o,
    (data) => jsonCodec.encodeReply({ push: { channel: 'c', pub: { data } } }),
    // What the transport did before: join with the codec, then ws.send.
    (batch) => {
      for (const ws of sockets) ws.send(jsonCodec.joinFrame(batch), { binary: false });
    },
    o.conns,
  );
  await fleet.close();
  for (const ws of sockets) ws.terminate();
  wss.close();
  server.close();
  return us;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      conns: { type: 'string', default: '5000' },
      rounds: { type: 'string', default: '50' },
      gap: { type: 'string', default: '100' },
      size: { type: 'string', default: '64' },
      batch: { type: 'string', default: '1' },
      modes: { type: 'string', default: MODES.join(',') },
      repeat: { type: 'string', default: '1' },
    },
  });
  if (canPin()) pinProcess(process.pid, 0);
  const o = {
    conns: Number(values.conns),
    rounds: Number(values.rounds),
    gap: Number(values.gap),
    size: Number(values.size),
    batch: Number(values.batch),
  };
  const modes = values.modes.split(',') as Mode[];
  console.log(
    `${o.conns} connections, ${o.rounds} rounds, ${o.gap} ms apart, ${o.batch} x ${o.size}-byte data per write`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    for (const mode of modes) {
      const us = await runMode(mode, o);
      console.log(`${mode.padEnd(16)} ${us.toFixed(2).padStart(7)} µs server CPU per socket write`);
    }
  }
}

await main();
