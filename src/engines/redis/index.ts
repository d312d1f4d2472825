/**
 * Redis engine: broker (PUB/SUB + history streams), presence manager and node-to-node controller
 * over Redis standalone, client-side sharded Redis, Sentinel or Redis Cluster.
 */
import type { ConnectionOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import { loadPem, type TlsSettings as TLSConfig } from '../../util/pem.js';
import { RedisBroker } from './broker.js';
import { RedisController } from './controller.js';
import { RedisPresenceManager } from './presence.js';
import { RedisShard } from './shard.js';

export { RedisBroker, type RedisBrokerOptions } from './broker.js';
export { RedisController, type RedisControllerOptions } from './controller.js';
export { RedisPresenceManager, type RedisPresenceOptions } from './presence.js';
export { RedisShard, SUBSCRIBE_BATCH, shardIndex, type RedisShardOptions } from './shard.js';

/** Connection options shared by every Redis section of the configuration (ms durations). */
export interface RedisConnectionConfig {
  address: string[];
  connect_timeout: number;
  io_timeout: number;
  db: number;
  user: string;
  password: string;
  client_name: string;
  force_resp2: boolean;
  cluster_address: string[];
  tls: TLSConfig;
  sentinel_address: string[];
  sentinel_user: string;
  sentinel_password: string;
  sentinel_master_name: string;
  sentinel_client_name: string;
  sentinel_tls: TLSConfig;
  replica_client: { enabled: boolean };
}

/** An `engine.redis` / `broker.redis` / `presence_manager.redis` shaped section (ms durations). */
export type RedisSection = RedisConnectionConfig & {
  prefix: string;
  history_use_lists?: boolean;
  presence_ttl?: number;
  presence_user_mapping?: boolean;
};

/** Extra knobs not in Centrifugo's config (tests use short probe intervals). */
export interface RedisEngineExtras {
  logger?: Logger;
  /** PUB/SUB liveness probe interval (ms), default 5000; 0 disables. */
  probeInterval?: number;
  /** How long (ms) a probe may take, default 5000. */
  probeTimeout?: number;
  /** Default idempotent result TTL (ms). */
  idempotentResultTtl?: number;
}

/** The engine's parts, sharing the same shard connections. */
export interface RedisEngine {
  shards: RedisShard[];
  broker: RedisBroker;
  presenceManager: RedisPresenceManager;
  controller: RedisController;
  /** Closes broker, presence manager and controller (idempotent); connections close with them. */
  close(): Promise<void>;
}

function tlsOf(tls: TLSConfig | undefined, key: string): ConnectionOptions | undefined {
  if (!tls?.enabled) return undefined;
  const out: ConnectionOptions = { rejectUnauthorized: !tls.insecure_skip_verify };
  if (tls.server_ca_pem) out.ca = loadPem(tls.server_ca_pem, `${key}.server_ca_pem`);
  if (tls.cert_pem) out.cert = loadPem(tls.cert_pem, `${key}.cert_pem`);
  if (tls.key_pem) out.key = loadPem(tls.key_pem, `${key}.key_pem`);
  if (tls.server_name) out.servername = tls.server_name;
  return out;
}

/** A parsed Redis address. */
export interface ParsedAddress {
  host?: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
  db?: number;
  tls?: boolean;
}

/**
 * Parses `redis://user:pass@host:port/db`, `rediss://...` (TLS), `unix:///path/to.sock`,
 * `host:port`, `[ipv6]:port` or `host` (port 6379).
 */
export function parseRedisAddress(address: string): ParsedAddress {
  const a = address.trim();
  if (/^(rediss?|unix|redis\+unix):\/\//.test(a)) {
    const u = new URL(a);
    const out: ParsedAddress = {};
    if (u.protocol === 'unix:' || u.protocol === 'redis+unix:') out.path = decodeURIComponent(u.pathname);
    else {
      out.host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
      out.port = u.port ? Number(u.port) : 6379;
      const db = u.pathname.replace(/^\//, '');
      if (db !== '') out.db = Number(db);
    }
    if (u.username) out.username = decodeURIComponent(u.username);
    if (u.password) out.password = decodeURIComponent(u.password);
    const qdb = u.searchParams.get('db');
    if (qdb !== null) out.db = Number(qdb);
    if (u.protocol === 'rediss:') out.tls = true;
    return out;
  }
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(a) ?? /^([^:]+):(\d+)$/.exec(a);
  if (m) return { host: m[1] as string, port: Number(m[2]) };
  return { host: a || '127.0.0.1', port: 6379 };
}

function node(address: string): { host: string; port: number } {
  const p = parseRedisAddress(address);
  return { host: p.host ?? '127.0.0.1', port: p.port ?? 6379 };
}

/**
 * ioredis options shared by every connection of a section. `force_resp2` selects RESP2 (ioredis defaults
 * to RESP3).
 */
function baseOptions(section: RedisConnectionConfig): RedisOptions {
  const o: RedisOptions = {
    connectTimeout: section.connect_timeout || 1000,
    commandTimeout: section.io_timeout || 4000,
    db: section.db,
    lazyConnect: false,
    maxRetriesPerRequest: 3,
    protocol: section.force_resp2 ? 2 : 3,
    // A write answered READONLY means a failover demoted the server under us: reconnect (Sentinel
    // then resolves the new master) and retry the command.
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
  };
  if (section.user) o.username = section.user;
  if (section.password) o.password = section.password;
  if (section.client_name) o.connectionName = section.client_name;
  const tls = tlsOf(section.tls, 'redis.tls');
  if (tls) o.tls = tls;
  return o;
}

/** Builds the shards of a section: one Cluster, one Sentinel master, or one shard per address. */
export function redisShardsFromConfig(section: RedisSection, extras: RedisEngineExtras = {}): RedisShard[] {
  const common = {
    prefix: section.prefix,
    ...(extras.logger ? { logger: extras.logger } : {}),
    ...(extras.probeInterval !== undefined ? { probeInterval: extras.probeInterval } : {}),
    ...(extras.probeTimeout !== undefined ? { probeTimeout: extras.probeTimeout } : {}),
  };
  const base = baseOptions(section);
  if (section.cluster_address.length > 0) {
    const nodes = section.cluster_address.flatMap((a) => a.split(',')).map((a) => node(a));
    const { db: _db, ...perNode } = base;
    return [new RedisShard({ ...common, redis: perNode, cluster: nodes })];
  }
  if (section.sentinel_address.length > 0) {
    const opts: RedisOptions = {
      ...base,
      sentinels: section.sentinel_address.flatMap((a) => a.split(',')).map((a) => node(a)),
      name: section.sentinel_master_name || 'mymaster',
    };
    if (section.sentinel_user) opts.sentinelUsername = section.sentinel_user;
    if (section.sentinel_password) opts.sentinelPassword = section.sentinel_password;
    const stls = tlsOf(section.sentinel_tls, 'redis.sentinel_tls');
    if (stls) {
      opts.sentinelTLS = stls;
      opts.enableTLSForSentinelMode = true;
    }
    return [new RedisShard({ ...common, redis: opts })];
  }
  const addresses = section.address.length > 0 ? section.address : ['redis://127.0.0.1:6379'];
  return addresses.map((address) => {
    const p = parseRedisAddress(address);
    const opts: RedisOptions = { ...base };
    if (p.path !== undefined) opts.path = p.path;
    if (p.host !== undefined) opts.host = p.host;
    if (p.port !== undefined) opts.port = p.port;
    if (p.username !== undefined) opts.username = p.username;
    if (p.password !== undefined) opts.password = p.password;
    if (p.db !== undefined) opts.db = p.db;
    if (p.tls && !opts.tls) opts.tls = {};
    return new RedisShard({ ...common, redis: opts });
  });
}

/**
 * Builds broker, presence manager and controller from one Redis section, sharing its shard
 * connections. Nothing talks to Redis until `broker.run()` / `controller.run()` or the first
 * command (ioredis connects in the background and queues commands meanwhile).
 */
export function redisEngineFromConfig(
  section: RedisSection,
  nodeName: string,
  extras: RedisEngineExtras = {},
): RedisEngine {
  const shards = redisShardsFromConfig(section, extras);
  const broker = new RedisBroker({
    shards,
    prefix: section.prefix,
    useLists: section.history_use_lists ?? false,
    ...(extras.idempotentResultTtl !== undefined ? { idempotentResultTtl: extras.idempotentResultTtl } : {}),
    ...(extras.logger ? { logger: extras.logger } : {}),
  });
  const presenceManager = new RedisPresenceManager({
    shards,
    prefix: section.prefix,
    ttl: section.presence_ttl || 60_000,
  });
  const controller = new RedisController({
    shard: shards[0] as RedisShard,
    nodeName,
    prefix: section.prefix,
  });
  return {
    shards,
    broker,
    presenceManager,
    controller,
    close: async () => {
      await Promise.all([broker.close(), presenceManager.close(), controller.close()]);
    },
  };
}
