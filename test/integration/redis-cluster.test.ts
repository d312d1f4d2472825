/**
 * Runs the shared broker and presence conformance suites, unchanged, against a three-node Redis
 * Cluster this file starts (redis-server ×3 + `redis-cli --cluster create`). Skips without the
 * redis binaries, and fails under CI=true.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { after, test } from 'node:test';
import { RedisBroker, RedisPresenceManager, RedisShard } from '../../src/engines/redis/index.js';
import { describeBroker } from '../conformance/broker.suite.js';
import { describePresenceManager } from '../conformance/presence.suite.js';

const HOST = '127.0.0.1';
const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.on('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

async function cli(port: number, ...args: string[]): Promise<string> {
  try {
    return (await run('redis-cli', ['-h', HOST, '-p', String(port), ...args])).stdout;
  } catch {
    return '';
  }
}

/** Starts three cluster-enabled redis-servers and joins them into one cluster (no replicas). */
async function startCluster(): Promise<{ ports: number[]; stop(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-cluster-'));
  // Cluster bus ports are port + 10000: pick ports whose bus port is free as well.
  const ports: number[] = [];
  while (ports.length < 3) {
    const p = await freePort();
    if (p < 55000 && !ports.includes(p) && (await isFree(p + 10000))) ports.push(p);
  }
  const procs: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        HOST,
        '--save',
        '',
        '--appendonly',
        'no',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--dir',
        dir,
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = (): void => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      const deadline = Date.now() + 10000;
      while (!(await cli(port, 'ping')).includes('PONG')) {
        if (Date.now() > deadline) throw new Error(`redis-server ${port} did not start`);
        await sleep(50);
      }
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((p) => `${HOST}:${p}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 15000;
    for (const port of ports) {
      while (!(await cli(port, 'cluster', 'info')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('cluster did not become ok');
        await sleep(100);
      }
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { ports, stop };
}

let cluster: { ports: number[]; stop(): void } | undefined;
let failure = '';
// A port taken between choosing and binding makes a node fail to start: try fresh ports again.
for (let attempt = 0; attempt < 3 && !cluster; attempt++) {
  try {
    cluster = await startCluster();
  } catch (err) {
    failure = (err as Error).message;
  }
}

if (!cluster) {
  test('redis cluster conformance', (t) => {
    if (process.env['CI'] === 'true') throw new Error(`could not start a redis cluster: ${failure}`);
    t.skip(`could not start a redis cluster: ${failure}`);
  });
} else {
  const c = cluster;
  after(() => c.stop());
  const prefix = `gyretest-${randomUUID().slice(0, 8)}`;
  const shard = (): RedisShard =>
    new RedisShard({ redis: {}, cluster: c.ports.map((port) => ({ host: HOST, port })), prefix });
  describeBroker('redis cluster x3', () => new RedisBroker({ shards: [shard()], prefix }));
  describePresenceManager(
    'redis cluster x3',
    ({ ttl }) => new RedisPresenceManager({ shards: [shard()], prefix, ttl }),
  );
}
