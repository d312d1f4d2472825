/**
 * Micro-benchmark: server CPU per socket write of broadcast pushes on the unidirectional
 * WebSocket transport (`/connection/uni_websocket`), written to N connections, without the rest
 * of Gyre (a stand-in node accepts every connection; no HTTP API, no client state):
 *
 * - `plain/shared`: `write` of a broadcast push (`markShared`, as every `EncodedPush` variant is);
 * - `plain/unshared`: the same push, not marked shared (a per-connection message);
 * - `deflate/shared`, `deflate/unshared`: the same with `uni_websocket.compression` on and the
 *   clients negotiating permessage-deflate (`compression_min_size` 0: everything is compressed).
 *
 * The transport decides how the bytes reach the socket (through `ws.send`, or frames built by
 * Gyre once per broadcast), so the same script measures any version of it. The clients (plain
 * `ws` clients) run in a child process pinned to core 1, the server side in this process pinned
 * to core 0 (when `taskset` exists). Every round writes one message (`--batch K`: K messages, one
 * flush) to every socket, waits for the clients to have received it and for `--gap` ms. Server
 * CPU = `process.cpuUsage()` of this process over the rounds (all threads, zlib's included).
 *
 *   node --import tsx bench/micro/uni-ws-fanout.ts [--conns 5000] [--rounds 50] [--gap 100]
 *     [--size 64] [--batch 1] [--join] [--modes plain/shared,plain/unshared,deflate/shared,deflate/unshared]
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { Client } from '../../src/core/client.js';
import { markShared } from '../../src/core/encoded.js';
import { noopLogger } from '../../src/core/logger.js';
import type { Node } from '../../src/core/node.js';
import type { Transport } from '../../src/core/transport.js';
import { jsonCodec } from '../../src/protocol/index.js';
import { defaultConfig } from '../../src/server/config/index.js';
import { createUniWebSocketHandler } from '../../src/transports/uni-websocket/index.js';
import { canPin, pinProcess } from '../lib/proc.js';
import { sleep, startClientFleet, timedRounds, type RoundOptions } from './ws-clients.js';

const MODES = ['plain/shared', 'plain/unshared', 'deflate/shared', 'deflate/unshared'] as const;
type Mode = (typeof MODES)[number];

// ---------------------------------------------------------------- server side

/** Just enough of a `Node` for the handler: every connection is accepted and does nothing. */
function standInNode(transports: Transport[]): Node {
  const client = {
    id: 'bench',
    handleClose: () => {},
    connectUnidirectional: async () => {},
    disconnect: () => {},
  };
  return {
    codecFor: () => jsonCodec,
    handleTransport: (t: Transport) => {
      transports.push(t);
      return client as unknown as Client;
    },
  } as unknown as Node;
}

async function runMode(mode: Mode, o: RoundOptions & { join: boolean }): Promise<number> {
  const deflate = mode.startsWith('deflate/');
  const transports: Transport[] = [];
  const config = defaultConfig();
  config.client.ping_interval = 0;
  config.client.queue_max_size = 0;
  config.uni_websocket.enabled = true;
  config.uni_websocket.compression = deflate;
  config.uni_websocket.compression_min_size = 0;
  config.uni_websocket.join_push_messages = o.join;
  const handler = createUniWebSocketHandler(standInNode(transports), config, noopLogger, () => true);
  const server = http.createServer();
  server.on('upgrade', (req, socket, head: Buffer) => handler(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/connection/uni_websocket?cf_connect=%7B%7D`;

  const fleet = await startClientFleet(url, o.conns, { deflate });
  if (transports.length !== o.conns) throw new Error(`accepted ${transports.length}`);
  if (deflate && !fleet.compressed) throw new Error('deflate not negotiated');
  await sleep(200);

  const shared = mode.endsWith('/shared');
  const us = await timedRounds(
    fleet,
    o,
    (data) => jsonCodec.encodePush({ channel: 'c', pub: { data } }),
    (batch) => {
      if (shared) for (const m of batch) markShared(m);
      for (const t of transports) t.write(batch);
    },
    o.conns * (o.join ? 1 : o.batch),
  );
  await fleet.close();
  handler.close();
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
      join: { type: 'boolean', default: false },
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
    join: values.join,
  };
  const modes = values.modes.split(',') as Mode[];
  console.log(
    `uni_websocket: ${o.conns} connections, ${o.rounds} rounds, ${o.gap} ms apart, ` +
      `${o.batch} x ${o.size}-byte data per write${o.join ? ' (join_push_messages)' : ''}`,
  );
  for (let rep = 0; rep < Number(values.repeat); rep++) {
    for (const mode of modes) {
      const us = await runMode(mode, o);
      console.log(`${mode.padEnd(18)} ${us.toFixed(2).padStart(7)} µs server CPU per socket write`);
    }
  }
}

await main();
