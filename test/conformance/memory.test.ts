import { MemoryBroker } from '../../src/core/memory/broker.js';
import { MemoryPresenceManager } from '../../src/core/memory/presence.js';
import { describeBroker } from './broker.suite.js';
import { describePresenceManager } from './presence.suite.js';

describeBroker('memory', () => new MemoryBroker());
describePresenceManager('memory', ({ ttl }) => new MemoryPresenceManager({ ttl }));
