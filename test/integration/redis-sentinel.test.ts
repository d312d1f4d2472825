/**
 * Redis Sentinel: the shared broker conformance suite through Sentinel, and a failover (master +
 * replica + one sentinel, all started here) after which publications, history and delivery carry
 * on against the new master. Skips when the processes cannot start; fails under CI=true.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, test } from 'node:test';
import { promisify } from 'node:util';
import type { Publication } from '../../src/protocol/types.js';
import { RedisBroker, RedisShard, redisEngineFromConfig } from '../../src/engines/redis/index.js';
import { defaultConfig } from '../../src/server/config/index.js';
import { describeBroker } from '../conformance/broker.suite.js';

const HOST = '127.0.0.1';
const MASTER = 'gyremaster';
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

async function cli(port: number, ...args: string[]): Promise<string> {
  try {
    return (await run('redis-cli', ['-h', HOST, '-p', String(port), ...args])).stdout;
  } catch {
    return '';
  }
}

async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface Setup {
  master: number;
  replica: number;
  sentinel: number;
  stop(): void;
}

async function startSentinelSetup(): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'gyre-sentinel-'));
  const [master, replica, sentinel] = [await freePort(), await freePort(), await freePort()];
  const base = ['--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir];
  const procs: ChildProcess[] = [];
  const stop = (): void => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    procs.push(spawn('redis-server', ['--port', String(master), ...base], { stdio: 'ignore' }));
    procs.push(
      spawn('redis-server', ['--port', String(replica), '--replicaof', HOST, String(master), ...base], {
        stdio: 'ignore',
      }),
    );
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${sentinel}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor ${MASTER} ${HOST} ${master} 1`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 3000`,
        '',
      ].join('\n'),
    );
    procs.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    await until(
      async () => (await cli(replica, 'info', 'replication')).includes('master_link_status:up'),
      10000,
      'replica link',
    );
    await until(
      async () => (await cli(sentinel, 'sentinel', 'replicas', MASTER)).includes(String(replica)),
      15000,
      'sentinel to discover the replica',
    );
  } catch (err) {
    stop();
    throw err;
  }
  return { master, replica, sentinel, stop };
}

let setup: Setup | undefined;
let failure = '';
// A port taken between choosing and binding makes a process fail to start: try fresh ports again.
for (let attempt = 0; attempt < 3 && !setup; attempt++) {
  try {
    setup = await startSentinelSetup();
  } catch (err) {
    failure = (err as Error).message;
  }
}

if (!setup) {
  test('redis sentinel', (t) => {
    if (process.env['CI'] === 'true') throw new Error(`could not start redis sentinel: ${failure}`);
    t.skip(`could not start redis sentinel: ${failure}`);
  });
} else {
  const s = setup;
  after(() => s.stop());
  const prefix = `gyretest-${randomUUID().slice(0, 8)}`;
  describeBroker(
    'redis sentinel',
    () =>
      new RedisBroker({
        shards: [
          new RedisShard({ redis: { sentinels: [{ host: HOST, port: s.sentinel }], name: MASTER }, prefix }),
        ],
        prefix,
      }),
  );

  void describe('Redis Sentinel failover', () => {
    void it('keeps publishing, delivering and reading history after the master fails over', async () => {
      const engine = redisEngineFromConfig(
        {
          ...defaultConfig().engine.redis,
          prefix,
          sentinel_address: [`${HOST}:${s.sentinel}`],
          sentinel_master_name: MASTER,
        },
        'node-1',
        { probeInterval: 200, probeTimeout: 1000 },
      );
      try {
        const got: Publication[] = [];
        await engine.broker.run({
          onPublication: (_c, pub) => got.push(pub),
          onJoin: () => {},
          onLeave: () => {},
        });
        const ch = `failover-${randomUUID()}`;
        await engine.broker.subscribe([ch]);
        const opts = { historySize: 100, historyTtl: 60_000, historyMetaTtl: 600_000 };
        const first = await engine.broker.publish(ch, Buffer.from('before'), opts);
        await until(async () => got.length === 1, 5000, 'first delivery');
        await cli(s.master, 'wait', '1', '1000');

        assert.match(await cli(s.sentinel, 'sentinel', 'failover', MASTER), /OK/);
        await until(
          async () =>
            (await cli(s.sentinel, 'sentinel', 'get-master-addr-by-name', MASTER)).includes(
              String(s.replica),
            ),
          15000,
          'the replica to be promoted',
        );
        await until(
          async () => (await cli(s.replica, 'role')).startsWith('master'),
          15000,
          'new master role',
        );

        // Publish until one is delivered again (those published during the switch may fail).
        const deadline = Date.now() + 20000;
        let last = first;
        while (!got.some((p) => Buffer.from(p.data).toString() === 'after')) {
          if (Date.now() > deadline) throw new Error('no delivery after failover');
          try {
            last = await engine.broker.publish(ch, Buffer.from('after'), opts);
          } catch {
            // The command connection may still be switching over.
          }
          await sleep(200);
        }
        assert.equal(last.epoch, first.epoch, 'the stream survived the failover (replicated)');
        assert.ok(last.offset > first.offset);
        const h = await engine.broker.history(ch, { limit: -1 });
        assert.equal(h.epoch, first.epoch);
        assert.equal(h.publications[0]?.offset, 1);
        assert.equal(Buffer.from(h.publications[0]?.data ?? []).toString(), 'before');
      } finally {
        await engine.close();
      }
    });
  });
}
