import type { RedisConnectionConfig } from '../../engines/redis/index.js';
import type { TlsSettings } from '../../util/pem.js';

/**
 * The Gyre configuration object: the Centrifugo v6 nested layout, keys in snake_case exactly as in
 * a Centrifugo JSON/YAML/TOML file.
 *
 * Contract: a `Config` produced by `defaultConfig()` or `loadConfig()` has every key present with
 * its default filled in, and every duration is a number of **milliseconds**
 * (`client.ping_interval === 25000`). Keys of features Gyre does not implement yet are present too;
 * they simply have no effect.
 *
 * Deviation kept from Centrifugo on purpose: `http_server.internal_port` is a string there and here
 * (`""` = no internal listener); numbers given in files are converted to strings by the loader.
 */

/** Milliseconds. */
export type Duration = number;

/** TLS object used by every `*.tls`, `*.sentinel_tls`, `*.internal_tls` key. PEMs: raw, base64 or path. */
export type TLSConfig = TlsSettings;

/** Connection options shared by every Redis client section (defined where the Redis engine reads them). */
export type { RedisConnectionConfig };

export interface RedisEngineConfig extends RedisConnectionConfig {
  prefix: string;
  history_use_lists: boolean;
  presence_ttl: Duration;
  presence_hash_field_ttl: boolean;
  presence_user_mapping: boolean;
}

export interface RedisBrokerConfig extends RedisConnectionConfig {
  prefix: string;
  history_use_lists: boolean;
}

export interface RedisPresenceManagerConfig extends RedisConnectionConfig {
  prefix: string;
  presence_ttl: Duration;
  presence_hash_field_ttl: boolean;
  presence_user_mapping: boolean;
}

export interface RedisMapBrokerConfig extends RedisConnectionConfig {
  prefix: string;
  cleanup_interval: Duration;
  cleanup_batch_size: number;
  idempotent_result_ttl: Duration;
  skip_pub_sub: boolean;
}

export interface NatsBrokerConfig {
  prefix: string;
  url: string;
  dial_timeout: Duration;
  write_timeout: Duration;
  tls: TLSConfig;
  allow_wildcards: boolean;
  raw_mode: { enabled: boolean; channel_replacements: Record<string, string>; prefix: string };
}

export interface PostgresBrokerConfig {
  dsn: string;
  tls: TLSConfig;
  pool_size: number;
  num_shards: number;
  cleanup_interval: Duration;
  idempotent_result_ttl: Duration;
  binary_data: boolean;
  stream_retention: Duration;
  use_notify: boolean;
  notify_dsn: string;
  table_prefix: string;
  skip_schema_init: boolean;
  outbox: { poll_interval: Duration; batch_size: number };
  partition_lookahead_days: number;
  partition_retention_days: number;
}

export interface PostgresMapBrokerConfig extends PostgresBrokerConfig {
  ttl_check_interval: Duration;
}

export interface PostgresControllerConfig {
  dsn: string;
  tls: TLSConfig;
  pool_size: number;
  num_shards: number;
  table_prefix: string;
  poll_interval: Duration;
  use_notify: boolean;
  notify_dsn: string;
  partition_retention_days: number;
  partition_lookahead_days: number;
  partition_cleanup_interval: Duration;
  batch_size: number;
  skip_schema_init: boolean;
}

export interface HttpStatusTransform {
  status_code: number;
  to_error: { code: number; message: string; temporary: boolean };
  to_disconnect: { code: number; reason: string };
}

/** Proxy object (identical for every proxy kind, see proxy.md §1.2). */
export interface ProxyConfig {
  /** `http(s)://` ⇒ HTTP proxy, anything else ⇒ GRPC (`grpc://host:port`). */
  endpoint: string;
  timeout: Duration;
  http_headers: string[];
  grpc_metadata: string[];
  emulated_headers: string[];
  binary_encoding: boolean;
  include_connection_meta: boolean;
  http: {
    tls: TLSConfig;
    static_headers: Record<string, string>;
    status_to_code_transforms: HttpStatusTransform[];
  };
  grpc: {
    tls: TLSConfig;
    credentials_key: string;
    credentials_value: string;
    compression: boolean;
    static_metadata: Record<string, string>;
  };
}

export interface EnabledProxyConfig extends ProxyConfig {
  enabled: boolean;
}

/** Element of top-level `proxies[]`. */
export interface NamedProxyConfig extends ProxyConfig {
  name: string;
}

export interface TokenConfig {
  hmac_secret_key: string;
  hmac_previous_secret_key: string;
  /** Unix seconds after which the previous key is refused (0 = never set). */
  hmac_previous_secret_key_valid_until: number;
  rsa_public_key: string;
  ecdsa_public_key: string;
  jwks_public_endpoint: string;
  audience: string;
  audience_regex: string;
  issuer: string;
  issuer_regex: string;
  user_id_claim: string;
  insecure_skip_jwks_endpoint_safety_check: boolean;
}

export interface SubscriptionTokenConfig extends TokenConfig {
  enabled: boolean;
}

export interface UniConnectCodeTransform {
  code: number;
  to: { code: number; reason: string };
}

export interface ClientConfig {
  proxy: { connect: EnabledProxyConfig; refresh: EnabledProxyConfig };
  allowed_origins: string[];
  token: TokenConfig;
  subscription_token: SubscriptionTokenConfig;
  allow_anonymous_connect_without_token: boolean;
  disallow_anonymous_connection_tokens: boolean;
  ping_interval: Duration;
  pong_timeout: Duration;
  expired_close_delay: Duration;
  expired_sub_close_delay: Duration;
  stale_close_delay: Duration;
  channel_limit: number;
  queue_max_size: number;
  write_delay: Duration;
  max_messages_in_frame: number;
  presence_update_interval: Duration;
  concurrency: number;
  channel_position_check_delay: Duration;
  channel_position_max_time_lag: Duration;
  connection_limit: number;
  user_connection_limit: number;
  connection_rate_limit: number;
  connect_include_server_time: boolean;
  history_max_publication_limit: number;
  recovery_max_publication_limit: number;
  insecure_skip_token_signature_verify: boolean;
  user_id_http_header: string;
  insecure: boolean;
  subscribe_to_user_personal_channel: {
    enabled: boolean;
    personal_channel_namespace: string;
    single_connection: boolean;
  };
  connect_code_to_unidirectional_disconnect: {
    enabled: boolean;
    transforms: UniConnectCodeTransform[];
  };
}

export interface MapChannelOptions {
  mode: string;
  key_ttl: Duration;
  stream_size: number;
  stream_ttl: Duration;
  meta_ttl: Duration;
  remove_client_on_unsubscribe: boolean;
  client_key: string;
  allow_publish_for_client: boolean;
  allow_publish_for_subscriber: boolean;
  allow_publish_for_anonymous: boolean;
  allow_remove_for_client: boolean;
  allow_remove_for_subscriber: boolean;
  allow_remove_for_anonymous: boolean;
  publish_proxy_enabled: boolean;
  publish_proxy_name: string;
  remove_proxy_enabled: boolean;
  remove_proxy_name: string;
  default_page_size: number;
  min_page_size: number;
  max_page_size: number;
  live_transition_max_publication_limit: number;
  subscribe_catch_up_timeout: Duration;
}

export interface SharedPollChannelOptions {
  proxy_name: string;
  refresh_interval: Duration;
  refresh_batch_size: number;
  max_keys_per_connection: number;
  mode: string;
  channel_shutdown_delay: Duration;
  track_expired_extra_delay: Duration;
  publish_enabled: boolean;
}

/** Channel options of `channel.without_namespace` and of every namespace. */
export interface ChannelOptions {
  presence: boolean;
  join_leave: boolean;
  force_push_join_leave: boolean;
  map_clients_presence_channel_prefix: string;
  map_users_presence_channel_prefix: string;
  history_size: number;
  history_ttl: Duration;
  /** 0 = use `channel.history_meta_ttl`. */
  history_meta_ttl: Duration;
  force_positioning: boolean;
  allow_positioning: boolean;
  force_recovery: boolean;
  allow_recovery: boolean;
  /** `""` (= stream), `stream` or `cache`. */
  force_recovery_mode: string;
  auto_cache_recover: boolean;
  allowed_delta_types: string[];
  allow_tags_filter: boolean;
  delta_publish: boolean;
  allow_subscribe_for_anonymous: boolean;
  allow_subscribe_for_client: boolean;
  allow_publish_for_anonymous: boolean;
  allow_publish_for_subscriber: boolean;
  allow_publish_for_client: boolean;
  allow_presence_for_anonymous: boolean;
  allow_presence_for_subscriber: boolean;
  allow_presence_for_client: boolean;
  allow_history_for_anonymous: boolean;
  allow_history_for_subscriber: boolean;
  allow_history_for_client: boolean;
  allow_user_limited_channels: boolean;
  channel_regex: string;
  publication_data_format: string;
  subscribe_proxy_enabled: boolean;
  subscribe_proxy_name: string;
  publish_proxy_enabled: boolean;
  publish_proxy_name: string;
  sub_refresh_proxy_enabled: boolean;
  sub_refresh_proxy_name: string;
  subscribe_stream_proxy_enabled: boolean;
  subscribe_stream_proxy_name: string;
  subscribe_stream_proxy_bidirectional: boolean;
  subscription_type: string;
  map: MapChannelOptions;
  shared_poll: SharedPollChannelOptions;
}

/** Element of `channel.namespaces[]`. */
export interface ChannelNamespace extends ChannelOptions {
  name: string;
}

export interface ChannelConfig {
  proxy: {
    subscribe: ProxyConfig;
    publish: ProxyConfig;
    sub_refresh: ProxyConfig;
    subscribe_stream: ProxyConfig;
    map_publish: ProxyConfig;
    map_remove: ProxyConfig;
    shared_poll_refresh: ProxyConfig;
  };
  without_namespace: ChannelOptions;
  namespaces: ChannelNamespace[];
  history_meta_ttl: Duration;
  publication_data_format: string;
  max_length: number;
  private_prefix: string;
  namespace_boundary: string;
  user_boundary: string;
  user_separator: string;
}

export interface RpcOptions {
  proxy_enabled: boolean;
  proxy_name: string;
}

/** Element of `rpc.namespaces[]`. */
export interface RpcNamespace extends RpcOptions {
  name: string;
}

export interface RpcConfig {
  proxy: ProxyConfig;
  without_namespace: RpcOptions;
  namespaces: RpcNamespace[];
  ping: { enabled: boolean; method: string };
  namespace_boundary: string;
}

export interface PostgresConsumerConfig {
  dsn: string;
  outbox_table_name: string;
  num_partitions: number;
  partition_select_limit: number;
  partition_poll_interval: Duration;
  partition_notification_channel: string;
  partition_notification_dsn: string;
  tls: TLSConfig;
  use_try_lock: boolean;
}

export interface KafkaConsumerConfig {
  brokers: string[];
  topics: string[];
  consumer_group: string;
  max_poll_records: number;
  fetch_max_bytes: number;
  fetch_max_wait: Duration;
  fetch_read_uncommitted: boolean;
  partition_queue_max_size: number;
  dial_timeout: Duration;
  tls: TLSConfig;
  sasl_mechanism: string;
  sasl_user: string;
  sasl_password: string;
  assume_role_arn: string;
  instance_id: string;
  method_header: string;
  publication_data_mode: {
    enabled: boolean;
    channels_header: string;
    idempotency_key_header: string;
    delta_header: string;
    version_header: string;
    version_epoch_header: string;
    tags_header_prefix: string;
  };
}

export interface NatsJetStreamConsumerConfig {
  url: string;
  credentials_file: string;
  username: string;
  password: string;
  token: string;
  stream_name: string;
  use_existing_consumer: boolean;
  subjects: string[];
  durable_consumer_name: string;
  deliver_policy: string;
  max_ack_pending: number;
  method_header: string;
  publication_data_mode: {
    enabled: boolean;
    channels_header: string;
    idempotency_key_header: string;
    delta_header: string;
    version_header: string;
    version_epoch_header: string;
    tags_header_prefix: string;
  };
  tls: TLSConfig;
}

export interface RedisStreamConsumerConfig extends RedisConnectionConfig {
  streams: string[];
  consumer_group: string;
  visibility_timeout: Duration;
  num_workers: number;
  payload_value: string;
  method_value: string;
  publication_data_mode: {
    enabled: boolean;
    channels_value: string;
    idempotency_key_value: string;
    delta_value: string;
    version_value: string;
    version_epoch_value: string;
    tags_value_prefix: string;
  };
}

export interface AttributePublicationDataMode {
  enabled: boolean;
  channels_attribute: string;
  idempotency_key_attribute: string;
  delta_attribute: string;
  version_attribute: string;
  version_epoch_attribute: string;
  tags_attribute_prefix: string;
}

export interface GooglePubSubConsumerConfig {
  project_id: string;
  subscriptions: string[];
  max_outstanding_messages: number;
  max_outstanding_bytes: number;
  auth_mechanism: string;
  credentials_file: string;
  method_attribute: string;
  publication_data_mode: AttributePublicationDataMode;
}

export interface AwsSqsConsumerConfig {
  queues: string[];
  sns_envelope: boolean;
  region: string;
  max_number_of_messages: number;
  wait_time_time: Duration;
  visibility_timeout: Duration;
  max_concurrency: number;
  credentials_profile: string;
  assume_role_arn: string;
  method_attribute: string;
  localstack_endpoint: string;
  publication_data_mode: AttributePublicationDataMode;
}

export interface AzureServiceBusConsumerConfig {
  connection_string: string;
  use_azure_identity: boolean;
  fully_qualified_namespace: string;
  tenant_id: string;
  client_id: string;
  client_secret: string;
  queues: string[];
  use_sessions: boolean;
  max_concurrent_calls: number;
  max_receive_messages: number;
  method_property: string;
  publication_data_mode: {
    enabled: boolean;
    channels_property: string;
    idempotency_key_property: string;
    delta_property: string;
    version_property: string;
    version_epoch_property: string;
    tags_property_prefix: string;
  };
}

/** Element of `consumers[]`. */
export interface ConsumerConfig {
  name: string;
  enabled: boolean;
  /** `postgresql`, `kafka`, `nats_jetstream`, `redis_stream`, `google_pub_sub`, `aws_sqs`, `azure_service_bus`. */
  type: string;
  postgresql: PostgresConsumerConfig;
  kafka: KafkaConsumerConfig;
  nats_jetstream: NatsJetStreamConsumerConfig;
  redis_stream: RedisStreamConsumerConfig;
  google_pub_sub: GooglePubSubConsumerConfig;
  aws_sqs: AwsSqsConsumerConfig;
  azure_service_bus: AzureServiceBusConsumerConfig;
}

export interface WebSocketConfig {
  disabled: boolean;
  handler_prefix: string;
  compression: boolean;
  compression_min_size: number;
  compression_level: number;
  read_buffer_size: number;
  use_write_buffer_pool: boolean;
  write_buffer_size: number;
  write_timeout: Duration;
  message_size_limit: number;
  decompressed_message_size_limit: number;
}

export interface UniWebSocketConfig {
  enabled: boolean;
  handler_prefix: string;
  compression: boolean;
  compression_min_size: number;
  compression_level: number;
  read_buffer_size: number;
  use_write_buffer_pool: boolean;
  write_buffer_size: number;
  write_timeout: Duration;
  message_size_limit: number;
  decompressed_message_size_limit: number;
  disable_closing_handshake: boolean;
  disable_disconnect_push: boolean;
  join_push_messages: boolean;
}

export interface HttpResponseTransform {
  code: number;
  to: { status_code: number; body: string };
}

export interface UniHttpConfig {
  enabled: boolean;
  handler_prefix: string;
  max_request_body_size: number;
  connect_code_to_http_response: { enabled: boolean; transforms: HttpResponseTransform[] };
}

export interface StreamTransportConfig {
  enabled: boolean;
  handler_prefix: string;
  max_request_body_size: number;
}

export interface HandlerToggle {
  enabled: boolean;
  handler_prefix: string;
}

/** The whole Centrifugo v6 configuration (see file comment for the contract). */
export interface Config {
  http_server: {
    address: string;
    port: number;
    internal_address: string;
    internal_port: string;
    tls: TLSConfig;
    tls_autocert: {
      enabled: boolean;
      host_whitelist: string[];
      cache_dir: string;
      email: string;
      server_name: string;
      http: boolean;
      http_addr: string;
    };
    tls_external: boolean;
    internal_tls: TLSConfig;
    http3: { enabled: boolean };
    h2c_external: boolean;
  };
  log: {
    /** `none`, `trace`, `debug`, `info`, `warn`, `error`. */
    level: string;
    file: string;
  };
  engine: { type: string; redis: RedisEngineConfig };
  broker: {
    enabled: boolean;
    type: string;
    redis: RedisBrokerConfig;
    nats: NatsBrokerConfig;
    postgres: PostgresBrokerConfig;
    redisnats: { redis: RedisBrokerConfig; nats: NatsBrokerConfig };
  };
  presence_manager: { enabled: boolean; type: string; redis: RedisPresenceManagerConfig };
  map_broker: { type: string; redis: RedisMapBrokerConfig; postgres: PostgresMapBrokerConfig };
  controller: { enabled: boolean; type: string; postgres: PostgresControllerConfig };
  shared_poll: {
    hmac_secret_key: string;
    hmac_previous_secret_key: string;
    hmac_previous_secret_key_valid_until: number;
    concurrency_limit: number;
  };
  client: ClientConfig;
  channel: ChannelConfig;
  rpc: RpcConfig;
  proxies: NamedProxyConfig[];
  http_api: {
    disabled: boolean;
    handler_prefix: string;
    key: string;
    error_mode: string;
    external: boolean;
    insecure: boolean;
  };
  grpc_api: {
    enabled: boolean;
    error_mode: string;
    address: string;
    port: number;
    key: string;
    tls: TLSConfig;
    reflection: boolean;
    max_receive_message_size: number;
  };
  consumers: ConsumerConfig[];
  websocket: WebSocketConfig;
  sse: StreamTransportConfig;
  http_stream: StreamTransportConfig;
  webtransport: { enabled: boolean; handler_prefix: string; message_size_limit: number };
  uni_sse: UniHttpConfig;
  uni_http_stream: UniHttpConfig;
  uni_websocket: UniWebSocketConfig;
  uni_grpc: {
    enabled: boolean;
    address: string;
    port: number;
    max_receive_message_size: number;
    tls: TLSConfig;
  };
  emulation: { handler_prefix: string; max_request_body_size: number };
  admin: {
    enabled: boolean;
    handler_prefix: string;
    password: string;
    secret: string;
    insecure: boolean;
    web_path: string;
    web_proxy_address: string;
    external: boolean;
  };
  prometheus: {
    enabled: boolean;
    handler_prefix: string;
    instrument_http_handlers: boolean;
    recovered_publications_histogram: boolean;
    native_histograms: boolean;
  };
  health: HandlerToggle;
  swagger: HandlerToggle;
  debug: HandlerToggle;
  init: HandlerToggle;
  opentelemetry: {
    enabled: boolean;
    api: boolean;
    consuming: boolean;
    google_cloud_adc_auth: boolean;
  };
  graphite: {
    enabled: boolean;
    host: string;
    port: number;
    prefix: string;
    interval: Duration;
    tags: boolean;
  };
  usage_stats: { disabled: boolean };
  node: {
    /** `""` ⇒ the server uses `<hostname>_<port>` (Centrifugo's runtime default). */
    name: string;
    info_metrics_aggregate_interval: Duration;
  };
  shutdown: { timeout: Duration };
  pid_file: string;
  enable_unreleased_features: boolean;
}
