/**
 * PostgreSQL engine: a stream broker (history, transactional `<prefix>_stream_publish`) and a
 * node-to-node controller, both following outbox tables. See README.md in this folder.
 */
import type { Logger } from '../../core/logger.js';
import type { TlsSettings } from '../../util/pem.js';
import { PostgresBroker, type PostgresBrokerOptions } from './broker.js';
import { PostgresController, type PostgresControllerOptions } from './controller.js';

export { PostgresBroker, type PostgresBrokerOptions } from './broker.js';
export { PostgresController, type PostgresControllerOptions } from './controller.js';
export { PREFIX_RE } from './schema.js';

/** A `broker.postgres` section (durations in ms). */
export interface PostgresBrokerSection {
  dsn: string;
  tls: TlsSettings;
  pool_size: number;
  num_shards: number;
  cleanup_interval: number;
  idempotent_result_ttl: number;
  binary_data: boolean;
  stream_retention: number;
  use_notify: boolean;
  notify_dsn: string;
  table_prefix: string;
  skip_schema_init: boolean;
  outbox: { poll_interval: number; batch_size: number };
  partition_lookahead_days: number;
  partition_retention_days: number;
}

/** A `controller.postgres` section (durations in ms). */
export interface PostgresControllerSection {
  dsn: string;
  tls: TlsSettings;
  pool_size: number;
  num_shards: number;
  table_prefix: string;
  poll_interval: number;
  use_notify: boolean;
  notify_dsn: string;
  partition_retention_days: number;
  partition_lookahead_days: number;
  partition_cleanup_interval: number;
  batch_size: number;
  skip_schema_init: boolean;
}

/** `broker.postgres` as broker options. */
export function postgresBrokerOptions(
  c: PostgresBrokerSection,
  name: string,
  logger?: Logger,
): PostgresBrokerOptions {
  const o: PostgresBrokerOptions = {
    dsn: c.dsn,
    tls: c.tls,
    tlsKey: 'broker.postgres.tls',
    poolSize: c.pool_size,
    notifyDsn: c.notify_dsn,
    name,
    prefix: c.table_prefix,
    numShards: c.num_shards,
    binaryData: c.binary_data,
    idempotentResultTtl: c.idempotent_result_ttl,
    streamRetention: c.stream_retention,
    useNotify: c.use_notify,
    pollInterval: c.outbox.poll_interval,
    batchSize: c.outbox.batch_size,
    cleanupInterval: c.cleanup_interval,
    skipSchemaInit: c.skip_schema_init,
    partitionLookaheadDays: c.partition_lookahead_days,
    partitionRetentionDays: c.partition_retention_days,
  };
  if (logger) o.logger = logger;
  return o;
}

/** `controller.postgres` as controller options. */
export function postgresControllerOptions(
  c: PostgresControllerSection,
  name: string,
  logger?: Logger,
): PostgresControllerOptions {
  const o: PostgresControllerOptions = {
    dsn: c.dsn,
    tls: c.tls,
    tlsKey: 'controller.postgres.tls',
    poolSize: c.pool_size,
    notifyDsn: c.notify_dsn,
    name,
    prefix: c.table_prefix,
    numShards: c.num_shards,
    pollInterval: c.poll_interval,
    useNotify: c.use_notify,
    batchSize: c.batch_size,
    partitionLookaheadDays: c.partition_lookahead_days,
    partitionRetentionDays: c.partition_retention_days,
    partitionCleanupInterval: c.partition_cleanup_interval,
    skipSchemaInit: c.skip_schema_init,
  };
  if (logger) o.logger = logger;
  return o;
}

export function postgresBrokerFromConfig(
  c: PostgresBrokerSection,
  name: string,
  logger?: Logger,
): PostgresBroker {
  return new PostgresBroker(postgresBrokerOptions(c, name, logger));
}

export function postgresControllerFromConfig(
  c: PostgresControllerSection,
  name: string,
  logger?: Logger,
): PostgresController {
  return new PostgresController(postgresControllerOptions(c, name, logger));
}
