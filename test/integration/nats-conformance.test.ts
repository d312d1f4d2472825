import { randomUUID } from 'node:crypto';
import { NatsBroker } from '../../src/engines/nats/index.js';
import { describeBroker } from '../conformance/broker.suite.js';
import { serviceSkip } from './cluster-services.js';

const skip = await serviceSkip('NATS', 4222);
if (skip) console.log(`# skipping NATS conformance: ${skip}`);
else {
  describeBroker(
    'nats',
    () =>
      new NatsBroker({
        url: 'nats://127.0.0.1:4222',
        prefix: `gyre-test-${randomUUID().slice(0, 8)}`,
        dialTimeout: 1000,
        writeTimeout: 1000,
        allowWildcards: false,
      }),
    { history: false },
  );
}
