/**
 * Gyre as a library: embed a Centrifugo-compatible real-time node in any Node.js application.
 *
 * ```ts
 * import { Node } from 'gyre';
 * const node = new Node({ handlers: { onConnecting: async () => ({ credentials: { userId: 'u' } }) } });
 * await node.run();
 * node.handleTransport(myTransport, { headers: {} });
 * ```
 */
export { Node, type NodeOptions } from './core/node.js';
export { Client, type ChannelSub } from './core/client.js';
export { defaultClientOptions, type ClientOptions } from './core/options.js';
export { MemoryBroker, type MemoryBrokerOptions } from './core/memory/broker.js';
export { MemoryPresenceManager, type MemoryPresenceOptions } from './core/memory/presence.js';
export { noopLogger, type Logger } from './core/logger.js';
export { matchFilter, validateFilter } from './core/filter.js';
export { TimerWheel, type TimerTask } from './core/timers.js';
export type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublishOptions,
  PublishResult,
} from './core/broker.js';
export type * from './core/presence.js';
export type * from './core/controller.js';
export type * from './core/transport.js';
export type * from './core/handlers.js';
export * from './protocol/index.js';
/** The wire (client protocol) shapes whose names the core broker types above take. */
export type {
  HistoryResult as WireHistoryResult,
  PublishResult as WirePublishResult,
} from './protocol/types.js';
export { MemoryController, MemoryControlBus } from './core/memory/controller.js';
