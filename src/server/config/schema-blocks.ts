/**
 * Reusable schema blocks (TLS, Redis connection) and the `consumers[]` element schema, split out of
 * `schema.ts` to keep files small.
 */
import { bool, dur, int, list, obj, str } from './schema-types.js';

export const tls = (doc = 'TLS options') =>
  obj(
    {
      enabled: bool(false, 'enable TLS'),
      cert_pem: str('', 'certificate PEM (raw, base64 or file path)'),
      key_pem: str('', 'private key PEM (raw, base64 or file path)'),
      server_ca_pem: str('', 'CA PEM used to verify the server'),
      client_ca_pem: str('', 'CA PEM used to verify clients (mTLS)'),
      insecure_skip_verify: bool(false, 'skip certificate verification'),
      server_name: str('', 'server name used for verification'),
    },
    doc,
  );

export const redisConnection = () => ({
  address: list(['redis://127.0.0.1:6379'], 'Redis addresses (several = client-side sharding)'),
  connect_timeout: dur('1s', 'connect timeout'),
  io_timeout: dur('4s', 'read/write timeout'),
  db: int(0, 'Redis database number'),
  user: str('', 'Redis ACL user'),
  password: str('', 'Redis password'),
  client_name: str('', 'client name sent with CLIENT SETNAME'),
  force_resp2: bool(false, 'force RESP2 protocol'),
  cluster_address: list([], 'Redis Cluster seed addresses'),
  tls: tls(),
  sentinel_address: list([], 'Sentinel addresses'),
  sentinel_user: str('', 'Sentinel user'),
  sentinel_password: str('', 'Sentinel password'),
  sentinel_master_name: str('', 'Sentinel master name'),
  sentinel_client_name: str('', 'Sentinel client name'),
  sentinel_tls: tls('TLS options for Sentinel'),
  replica_client: obj({ enabled: bool(false, 'read from replicas') }, 'replica client'),
});

const pdm = {
  channels: () => str('centrifugo-channels', 'channels field'),
  idem: () => str('centrifugo-idempotency-key', 'idempotency key field'),
  delta: () => str('centrifugo-delta', 'delta field'),
  version: () => str('centrifugo-version', 'version field'),
  epoch: () => str('centrifugo-version-epoch', 'version epoch field'),
  tags: () => str('centrifugo-tag-', 'tags field prefix'),
  enabled: () => bool(false, 'publication data mode'),
};
const pubDataModeHeader = () =>
  obj({
    enabled: pdm.enabled(),
    channels_header: pdm.channels(),
    idempotency_key_header: pdm.idem(),
    delta_header: pdm.delta(),
    version_header: pdm.version(),
    version_epoch_header: pdm.epoch(),
    tags_header_prefix: pdm.tags(),
  });
const pubDataModeValue = () =>
  obj({
    enabled: pdm.enabled(),
    channels_value: pdm.channels(),
    idempotency_key_value: pdm.idem(),
    delta_value: pdm.delta(),
    version_value: pdm.version(),
    version_epoch_value: pdm.epoch(),
    tags_value_prefix: pdm.tags(),
  });
const pubDataModeAttribute = () =>
  obj({
    enabled: pdm.enabled(),
    channels_attribute: pdm.channels(),
    idempotency_key_attribute: pdm.idem(),
    delta_attribute: pdm.delta(),
    version_attribute: pdm.version(),
    version_epoch_attribute: pdm.epoch(),
    tags_attribute_prefix: pdm.tags(),
  });
const pubDataModeProperty = () =>
  obj({
    enabled: pdm.enabled(),
    channels_property: pdm.channels(),
    idempotency_key_property: pdm.idem(),
    delta_property: pdm.delta(),
    version_property: pdm.version(),
    version_epoch_property: pdm.epoch(),
    tags_property_prefix: pdm.tags(),
  });

/** Element schema of `consumers[]`. */
export const consumer = obj(
  {
    name: str('', 'unique consumer name'),
    enabled: bool(false, 'enable this consumer'),
    type: str('', 'consumer type', [
      'postgresql',
      'kafka',
      'nats_jetstream',
      'redis_stream',
      'google_pub_sub',
      'aws_sqs',
      'azure_service_bus',
    ]),
    postgresql: obj({
      dsn: str('', 'PostgreSQL DSN'),
      outbox_table_name: str('', 'outbox table'),
      num_partitions: int(1, 'partitions'),
      partition_select_limit: int(100, 'rows per select'),
      partition_poll_interval: dur('300ms', 'poll interval'),
      partition_notification_channel: str('', 'LISTEN channel'),
      partition_notification_dsn: str('', 'DSN for LISTEN'),
      tls: tls(),
      use_try_lock: bool(false, 'use pg_try_advisory_lock'),
    }),
    kafka: obj({
      brokers: list([], 'Kafka brokers'),
      topics: list([], 'topics'),
      consumer_group: str('', 'consumer group'),
      max_poll_records: int(100, 'max poll records'),
      fetch_max_bytes: int(0, 'fetch max bytes'),
      fetch_max_wait: dur('500ms', 'fetch max wait'),
      fetch_read_uncommitted: bool(false, 'read uncommitted'),
      partition_queue_max_size: int(1000, 'partition queue size'),
      dial_timeout: dur('3s', 'dial timeout'),
      tls: tls(),
      sasl_mechanism: str('', 'SASL mechanism'),
      sasl_user: str('', 'SASL user'),
      sasl_password: str('', 'SASL password'),
      assume_role_arn: str('', 'AWS role (MSK IAM)'),
      instance_id: str('', 'static group member id'),
      method_header: str('centrifugo-method', 'method header'),
      publication_data_mode: pubDataModeHeader(),
    }),
    nats_jetstream: obj({
      url: str('nats://127.0.0.1:4222', 'NATS URL'),
      credentials_file: str('', 'credentials file'),
      username: str('', 'user'),
      password: str('', 'password'),
      token: str('', 'token'),
      stream_name: str('', 'stream'),
      use_existing_consumer: bool(false, 'use an existing consumer'),
      subjects: list([], 'subjects'),
      durable_consumer_name: str('', 'durable consumer name'),
      deliver_policy: str('new', 'deliver policy'),
      max_ack_pending: int(100, 'max ack pending'),
      method_header: str('centrifugo-method', 'method header'),
      publication_data_mode: pubDataModeHeader(),
      tls: tls(),
    }),
    redis_stream: obj({
      ...redisConnection(),
      streams: list([], 'streams'),
      consumer_group: str('', 'consumer group'),
      visibility_timeout: dur('30s', 'visibility timeout'),
      num_workers: int(1, 'workers'),
      payload_value: str('payload', 'payload field'),
      method_value: str('method', 'method field'),
      publication_data_mode: pubDataModeValue(),
    }),
    google_pub_sub: obj({
      project_id: str('', 'project id'),
      subscriptions: list([], 'subscriptions'),
      max_outstanding_messages: int(100, 'max outstanding messages'),
      max_outstanding_bytes: int(1000000, 'max outstanding bytes'),
      auth_mechanism: str('', 'auth mechanism'),
      credentials_file: str('', 'credentials file'),
      method_attribute: str('centrifugo-method', 'method attribute'),
      publication_data_mode: pubDataModeAttribute(),
    }),
    aws_sqs: obj({
      queues: list([], 'queue URLs'),
      sns_envelope: bool(false, 'messages wrapped in SNS envelope'),
      region: str('', 'AWS region'),
      max_number_of_messages: int(10, 'max messages per receive'),
      wait_time_time: dur('20s', 'long poll wait time'),
      visibility_timeout: dur('30s', 'visibility timeout'),
      max_concurrency: int(1, 'max concurrency'),
      credentials_profile: str('', 'credentials profile'),
      assume_role_arn: str('', 'role to assume'),
      method_attribute: str('centrifugo-method', 'method attribute'),
      localstack_endpoint: str('', 'LocalStack endpoint'),
      publication_data_mode: pubDataModeAttribute(),
    }),
    azure_service_bus: obj({
      connection_string: str('', 'connection string'),
      use_azure_identity: bool(false, 'use Azure identity'),
      fully_qualified_namespace: str('', 'namespace'),
      tenant_id: str('', 'tenant id'),
      client_id: str('', 'client id'),
      client_secret: str('', 'client secret'),
      queues: list([], 'queues'),
      use_sessions: bool(false, 'use sessions'),
      max_concurrent_calls: int(1, 'max concurrent calls'),
      max_receive_messages: int(1, 'max receive messages'),
      method_property: str('centrifugo-method', 'method property'),
      publication_data_mode: pubDataModeProperty(),
    }),
  },
  'asynchronous consumer',
);
