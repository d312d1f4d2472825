/**
 * Runs the shared broker conformance suite, unchanged, against the PostgreSQL broker
 * (127.0.0.1:5432, database `test`): with LISTEN/NOTIFY, with outbox polling, and with binary
 * data and one shard. Each variant uses a table prefix of its own, dropped at the end. Without a
 * reachable PostgreSQL it skips, and fails under CI=true.
 */
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';
import { PostgresBroker, type PostgresBrokerOptions } from '../../src/engines/postgres/index.js';
import { describeBroker } from '../conformance/broker.suite.js';
import { serviceSkip } from './cluster-services.js';
import { dropPrefix, PG_DSN } from './postgres-helpers.js';

const skip = await serviceSkip('PostgreSQL', 5432);
if (skip) console.log(`# skipping PostgreSQL conformance: ${skip}`);
else {
  const variants: [string, Partial<PostgresBrokerOptions>][] = [
    ['postgres (notify)', { useNotify: true }],
    ['postgres (polling)', { useNotify: false, pollInterval: 20 }],
    ['postgres (binary data, 1 shard)', { useNotify: true, binaryData: true, numShards: 1 }],
  ];
  for (const [name, extra] of variants) {
    const prefix = `gyret_${randomUUID().slice(0, 8)}`;
    after(() => dropPrefix(prefix));
    describeBroker(name, () => new PostgresBroker({ dsn: PG_DSN, poolSize: 8, prefix, ...extra }));
  }
}
