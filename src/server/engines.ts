import { randomUUID } from 'node:crypto';
import type { Broker } from '../core/broker.js';
import type { Controller } from '../core/controller.js';
import type { Logger } from '../core/logger.js';
import { MemoryBroker } from '../core/memory/broker.js';
import { MemoryController } from '../core/memory/controller.js';
import { MemoryPresenceManager } from '../core/memory/presence.js';
import type { PresenceManager } from '../core/presence.js';
import { loadPem } from '../util/pem.js';
import {
  NatsBroker,
  NatsController,
  SharedNatsConnection,
  type NatsSettings,
} from '../engines/nats/index.js';
import { postgresBrokerFromConfig, postgresControllerFromConfig } from '../engines/postgres/index.js';
import {
  RedisBroker,
  RedisController,
  RedisPresenceManager,
  redisShardsFromConfig,
  type RedisSection,
  type RedisShard,
} from '../engines/redis/index.js';
import { SUPPORTED_BROKER_TYPES, type Config, type NatsBrokerConfig } from './config/index.js';

/** What a node is assembled from. */
export interface Engines {
  broker: Broker;
  presenceManager: PresenceManager;
  controller: Controller;
  /** The node uid to give the `Node` (controllers that route by node know it). */
  nodeUid: string;
  /** Resolved types, for logs: `broker`, `presence_manager`, `controller`. */
  types: { broker: string; presenceManager: string; controller: string };
}

/** Thrown for engine settings Gyre cannot run with; the message names the config key. */
export class EngineConfigError extends Error {}

interface EngineTypes {
  broker: (typeof SUPPORTED_BROKER_TYPES)[number];
  presenceManager: 'memory' | 'redis';
  controller: 'memory' | 'redis' | 'nats' | 'postgres';
}

function pick<T extends string>(key: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new EngineConfigError(
    `${key}: "${value}" is not supported by Gyre (supported: ${allowed.join(', ')})`,
  );
}

/**
 * Resolves which broker, presence manager and controller the config asks for, or throws
 * `EngineConfigError` naming the key: `engine.type` (`memory` | `redis`), overridden by
 * `broker.enabled` + `broker.type` (`memory` | `redis` | `nats` | `postgres`) and
 * `presence_manager.enabled` + `presence_manager.type` (`memory` | `redis`). The controller is
 * `controller.type` (`postgres`) when `controller.enabled`, else it follows the broker (NATS or
 * Redis), else Redis presence, else memory. Pure. The other settings Gyre cannot run with (NATS
 * raw mode, map brokers, ...) are refused by `startupProblems` (config validation).
 */
export function resolveEngineTypes(config: Config): EngineTypes {
  const engine = pick('engine.type', config.engine.type, ['memory', 'redis'] as const);
  const broker = config.broker.enabled
    ? pick('broker.type', config.broker.type, SUPPORTED_BROKER_TYPES)
    : engine;
  const presenceManager = config.presence_manager.enabled
    ? pick('presence_manager.type', config.presence_manager.type, ['memory', 'redis'] as const)
    : engine;
  const explicitController = config.controller.enabled
    ? pick('controller.type', config.controller.type, ['postgres'] as const)
    : undefined;
  const controller =
    explicitController ??
    (broker === 'nats' ? 'nats' : broker === 'redis' || presenceManager === 'redis' ? 'redis' : 'memory');
  return { broker, presenceManager, controller };
}

/** `broker.nats` as connection settings. */
export function natsSettings(c: NatsBrokerConfig, name?: string): NatsSettings {
  const s: NatsSettings = {
    url: c.url,
    prefix: c.prefix,
    dialTimeout: c.dial_timeout,
    writeTimeout: c.write_timeout,
    allowWildcards: c.allow_wildcards,
  };
  if (name !== undefined) s.name = name;
  if (c.raw_mode.enabled)
    s.rawMode = { prefix: c.raw_mode.prefix, replacements: c.raw_mode.channel_replacements };
  if (c.tls.enabled) {
    // Raw, base64 or file PEMs, as every other TLS setting (and as validation checks them).
    const pem = (v: string, k: string): string => loadPem(v, `broker.nats.tls.${k}`).toString();
    s.tls = {};
    if (c.tls.cert_pem !== '') s.tls.cert = pem(c.tls.cert_pem, 'cert_pem');
    if (c.tls.key_pem !== '') s.tls.key = pem(c.tls.key_pem, 'key_pem');
    if (c.tls.server_ca_pem !== '') s.tls.ca = pem(c.tls.server_ca_pem, 'server_ca_pem');
  }
  return s;
}

/**
 * Builds the broker, presence manager and controller of one node from the config (see
 * `resolveEngineTypes` for the rules and errors). Redis parts built from the same section share
 * its connections; NATS broker and controller share one connection. Nothing is awaited here:
 * connections are made by `Node.run()` (NATS) or in the background (Redis).
 */
export function buildEngines(config: Config, nodeName: string, logger: Logger): Engines {
  const types = resolveEngineTypes(config);
  const nodeUid = randomUUID();
  const shardsBySection = new Map<RedisSection, RedisShard[]>();
  const shards = (section: RedisSection): RedisShard[] => {
    let s = shardsBySection.get(section);
    if (s === undefined) {
      s = redisShardsFromConfig(section, { logger });
      shardsBySection.set(section, s);
    }
    return s;
  };
  const brokerSection: RedisSection = config.broker.enabled ? config.broker.redis : config.engine.redis;
  const presenceSection: RedisSection = config.presence_manager.enabled
    ? config.presence_manager.redis
    : config.engine.redis;

  let nats: SharedNatsConnection | undefined;
  const natsConn = (): SharedNatsConnection =>
    (nats ??= new SharedNatsConnection(natsSettings(config.broker.nats, `gyre ${nodeName}`)));

  let broker: Broker;
  if (types.broker === 'redis') {
    broker = new RedisBroker({
      shards: shards(brokerSection),
      prefix: brokerSection.prefix,
      useLists: brokerSection.history_use_lists ?? false,
      logger,
    });
  } else if (types.broker === 'nats') {
    broker = new NatsBroker(natsConn(), logger);
  } else if (types.broker === 'postgres') {
    broker = postgresBrokerFromConfig(config.broker.postgres, `gyre ${nodeName}`, logger);
  } else {
    broker = new MemoryBroker();
  }

  let presenceManager: PresenceManager;
  if (types.presenceManager === 'redis') {
    presenceManager = new RedisPresenceManager({
      shards: shards(presenceSection),
      prefix: presenceSection.prefix,
      ttl: presenceSection.presence_ttl || 60_000,
    });
  } else {
    presenceManager = new MemoryPresenceManager();
  }

  let controller: Controller;
  if (types.controller === 'postgres') {
    controller = postgresControllerFromConfig(config.controller.postgres, `gyre ${nodeName}`, logger);
  } else if (types.controller === 'nats') {
    controller = new NatsController(natsConn(), logger);
  } else if (types.controller === 'redis') {
    const section = types.broker === 'redis' ? brokerSection : presenceSection;
    const first = shards(section)[0];
    if (first === undefined) throw new EngineConfigError('engine.redis.address: no Redis address');
    // The controller routes directed messages by node: the Node gets this same uid.
    controller = new RedisController({ shard: first, nodeName: nodeUid, prefix: section.prefix });
  } else {
    controller = new MemoryController();
  }

  if (types.broker === 'postgres' && types.controller === 'memory') {
    logger.warn(
      {},
      'broker.type is postgres without controller.enabled: nodes do not learn about each other ' +
        '(set controller.enabled and controller.type "postgres" for a multi-node setup)',
    );
  }

  return { broker, presenceManager, controller, nodeUid, types };
}
