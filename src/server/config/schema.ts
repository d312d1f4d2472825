/**
 * The single source of truth for every Gyre/Centrifugo v6 configuration key: path, type, default
 * and a one-line doc. Env variable names are derived from the path (see `envName`). Loading,
 * validation, defaults, `genconfig`, `defaultconfig`, `defaultenv` and docs all walk this tree.
 */
import type { Config } from './types.js';
import type { Infer, ObjectNode, SchemaNode } from './schema-types.js';
import { arr, bool, dur, int, list, map, obj, str } from './schema-types.js';
import { consumer, redisConnection, tls } from './schema-blocks.js';

const prefix = () => str('centrifugo', 'key prefix');
const presenceTTL = () => ({
  presence_ttl: dur('60s', 'presence entry TTL'),
  presence_hash_field_ttl: bool(false, 'use hash field TTL for presence (Redis ≥ 7.4)'),
  presence_user_mapping: bool(false, 'keep a user mapping for fast presence stats'),
});

const redisBroker = () =>
  obj(
    {
      prefix: prefix(),
      ...redisConnection(),
      history_use_lists: bool(false, 'use lists instead of streams for history'),
    },
    'Redis broker',
  );

const natsBroker = () =>
  obj(
    {
      prefix: prefix(),
      url: str('nats://localhost:4222', 'NATS server URL'),
      dial_timeout: dur('1s', 'dial timeout'),
      write_timeout: dur('1s', 'write timeout'),
      tls: tls(),
      allow_wildcards: bool(false, 'allow wildcard subscriptions'),
      raw_mode: obj(
        {
          enabled: bool(false, 'raw mode: publish payloads without Centrifugo envelope'),
          channel_replacements: map('replacements applied to channel names'),
          prefix: str('', 'subject prefix in raw mode'),
        },
        'raw mode',
      ),
    },
    'NATS broker',
  );

const postgresBrokerFields = () => ({
  dsn: str('', 'PostgreSQL DSN'),
  tls: tls(),
  pool_size: int(16, 'connection pool size'),
  num_shards: int(8, 'number of shards'),
  cleanup_interval: dur('1m', 'cleanup interval'),
  idempotent_result_ttl: dur('5m', 'idempotent result TTL'),
  binary_data: bool(false, 'store data as binary'),
  stream_retention: dur('24h', 'stream retention'),
  use_notify: bool(false, 'use LISTEN/NOTIFY'),
  notify_dsn: str('', 'DSN for LISTEN/NOTIFY connection'),
  table_prefix: str('cf', 'table name prefix'),
  skip_schema_init: bool(false, 'do not create the schema'),
  outbox: obj(
    { poll_interval: dur('100ms', 'outbox poll interval'), batch_size: int(1000, 'batch size') },
    'outbox',
  ),
  partition_lookahead_days: int(2, 'partitions created ahead (days)'),
  partition_retention_days: int(7, 'partitions kept (days)'),
});

/** Proxy object; shared by every proxy kind. */
export const proxyFields = () => ({
  endpoint: str('', 'http(s):// ⇒ HTTP proxy, otherwise GRPC (grpc://host:port)'),
  timeout: dur('1s', 'request timeout'),
  http_headers: list([], 'client HTTP headers forwarded to the proxy'),
  grpc_metadata: list([], 'client GRPC metadata keys forwarded to the proxy'),
  emulated_headers: list([], 'client-supplied emulated headers allowed to be forwarded'),
  binary_encoding: bool(false, 'send data base64-encoded (b64data)'),
  include_connection_meta: bool(false, 'include connection meta in requests'),
  http: obj(
    {
      tls: tls(),
      static_headers: map('static headers added to every request'),
      status_to_code_transforms: arr(
        obj({
          status_code: int(0, 'HTTP status code to transform'),
          to_error: obj({
            code: int(0, 'error code'),
            message: str('', 'error message'),
            temporary: bool(false, 'temporary error'),
          }),
          to_disconnect: obj({
            code: int(0, 'disconnect code'),
            reason: str('', 'disconnect reason'),
          }),
        }),
        'map HTTP statuses to client errors/disconnects',
      ),
    },
    'HTTP proxy options',
  ),
  grpc: obj(
    {
      tls: tls(),
      credentials_key: str('', 'per-RPC credentials metadata key'),
      credentials_value: str('', 'per-RPC credentials metadata value'),
      compression: bool(false, 'gzip compression'),
      static_metadata: map('static metadata added to every call'),
    },
    'GRPC proxy options',
  ),
});

const proxy = (doc: string) => obj(proxyFields(), doc);
const enabledProxy = (doc: string) =>
  obj({ enabled: bool(false, 'enable this proxy'), ...proxyFields() }, doc);

const tokenFields = () => ({
  hmac_secret_key: str('', 'HMAC secret enabling HS256/384/512 tokens'),
  hmac_previous_secret_key: str('', 'previous HMAC secret (rotation)'),
  hmac_previous_secret_key_valid_until: int(0, 'unix seconds after which the previous key is refused'),
  rsa_public_key: str('', 'RSA public key PEM enabling RS256/384/512'),
  ecdsa_public_key: str('', 'ECDSA public key PEM enabling ES256/384/512'),
  jwks_public_endpoint: str('', 'JWKS URL (when set, only JWKS is used)'),
  audience: str('', 'required aud claim'),
  audience_regex: str('', 'regex the aud claim must match'),
  issuer: str('', 'required iss claim'),
  issuer_regex: str('', 'regex the iss claim must match'),
  user_id_claim: str('', 'claim holding the user id (default sub)'),
  insecure_skip_jwks_endpoint_safety_check: bool(false, 'allow templated JWKS URLs without checks'),
});

const channelMapOptions = () =>
  obj(
    {
      mode: str('', 'map mode', ['ephemeral', 'recoverable', 'persistent']),
      key_ttl: dur('0', 'entry TTL'),
      stream_size: int(0, 'change stream size'),
      stream_ttl: dur('0', 'change stream TTL'),
      meta_ttl: dur('0', 'stream meta TTL'),
      remove_client_on_unsubscribe: bool(false, 'remove entry keyed by client id on unsubscribe'),
      client_key: str('', 'server-assigned key', ['client_id', 'user_id']),
      allow_publish_for_client: bool(false, 'authenticated clients may publish'),
      allow_publish_for_subscriber: bool(false, 'subscribers may publish'),
      allow_publish_for_anonymous: bool(false, 'anonymous clients may publish'),
      allow_remove_for_client: bool(false, 'authenticated clients may remove'),
      allow_remove_for_subscriber: bool(false, 'subscribers may remove'),
      allow_remove_for_anonymous: bool(false, 'anonymous clients may remove'),
      publish_proxy_enabled: bool(false, 'proxy map publishes'),
      publish_proxy_name: str('default', 'map publish proxy name'),
      remove_proxy_enabled: bool(false, 'proxy map removes'),
      remove_proxy_name: str('default', 'map remove proxy name'),
      default_page_size: int(0, 'default page size (runtime default 100)'),
      min_page_size: int(0, 'min page size (runtime default 100)'),
      max_page_size: int(0, 'max page size (runtime default 1000)'),
      live_transition_max_publication_limit: int(0, 'publication limit for live transition'),
      subscribe_catch_up_timeout: dur('0', 'catch-up timeout (runtime default 5s)'),
    },
    'map subscription options',
  );

const channelSharedPollOptions = () =>
  obj(
    {
      proxy_name: str('', 'shared poll refresh proxy name (runtime default "default")'),
      refresh_interval: dur('0', 'refresh interval (runtime default 10s)'),
      refresh_batch_size: int(0, 'refresh batch size (runtime default 1000)'),
      max_keys_per_connection: int(0, 'max tracked keys per connection (runtime default 5000)'),
      mode: str('', 'shared poll mode', ['versionless', 'versioned']),
      channel_shutdown_delay: dur('0', 'channel shutdown delay (runtime default 1s)'),
      track_expired_extra_delay: dur('0', 'extra delay for expired tracks (runtime default 25s)'),
      publish_enabled: bool(false, 'allow publishing into shared poll channels'),
    },
    'shared poll options',
  );

/** ChannelOptions fields (namespace elements add `name`). */
export const channelOptionFields = () => ({
  presence: bool(false, 'keep online presence'),
  join_leave: bool(false, 'emit join/leave events'),
  force_push_join_leave: bool(false, 'push join/leave without client opt-in'),
  map_clients_presence_channel_prefix: str('', 'publish map client presence to <prefix><channel>'),
  map_users_presence_channel_prefix: str('', 'publish map user presence to <prefix><channel>'),
  history_size: int(0, 'history stream size (needs history_ttl)'),
  history_ttl: dur('0', 'history retention (needs history_size; whole seconds)'),
  history_meta_ttl: dur('0', 'stream meta TTL override (0 = channel.history_meta_ttl)'),
  force_positioning: bool(false, 'force positioning'),
  allow_positioning: bool(false, 'clients may request positioning'),
  force_recovery: bool(false, 'force recovery (needs history)'),
  allow_recovery: bool(false, 'clients may request recovery (needs history)'),
  force_recovery_mode: str('', 'recovery mode', ['stream', 'cache']),
  auto_cache_recover: bool(false, 'cache-recover every subscription (needs force_recovery + cache)'),
  allowed_delta_types: list([], 'delta types clients may negotiate (fossil)'),
  allow_tags_filter: bool(false, 'allow client tags filters'),
  delta_publish: bool(false, 'mark all publications as delta candidates'),
  allow_subscribe_for_anonymous: bool(false, 'anonymous connections may subscribe'),
  allow_subscribe_for_client: bool(false, 'authenticated connections may subscribe'),
  allow_publish_for_anonymous: bool(false, 'anonymous connections may publish'),
  allow_publish_for_subscriber: bool(false, 'subscribers may publish'),
  allow_publish_for_client: bool(false, 'authenticated connections may publish'),
  allow_presence_for_anonymous: bool(false, 'anonymous connections may call presence'),
  allow_presence_for_subscriber: bool(false, 'subscribers may call presence'),
  allow_presence_for_client: bool(false, 'authenticated connections may call presence'),
  allow_history_for_anonymous: bool(false, 'anonymous connections may call history'),
  allow_history_for_subscriber: bool(false, 'subscribers may call history'),
  allow_history_for_client: bool(false, 'authenticated connections may call history'),
  allow_user_limited_channels: bool(false, 'enable user-limited channels (#user1,user2)'),
  channel_regex: str('', 'regex the channel name after the namespace must match'),
  publication_data_format: str('', 'publication data format', ['json', 'json_object', 'binary']),
  subscribe_proxy_enabled: bool(false, 'proxy subscriptions'),
  subscribe_proxy_name: str('default', 'subscribe proxy name'),
  publish_proxy_enabled: bool(false, 'proxy client publications'),
  publish_proxy_name: str('default', 'publish proxy name'),
  sub_refresh_proxy_enabled: bool(false, 'proxy subscription refreshes'),
  sub_refresh_proxy_name: str('default', 'sub refresh proxy name'),
  subscribe_stream_proxy_enabled: bool(false, 'proxy subscriptions as GRPC streams'),
  subscribe_stream_proxy_name: str('default', 'subscribe stream proxy name'),
  subscribe_stream_proxy_bidirectional: bool(false, 'bidirectional subscribe streams'),
  subscription_type: str('', 'subscription type', [
    'stream',
    'map',
    'map_clients',
    'map_users',
    'shared_poll',
  ]),
  map: channelMapOptions(),
  shared_poll: channelSharedPollOptions(),
});

const uniHttp = (prefixPath: string) =>
  obj({
    enabled: bool(false, 'enable the transport'),
    handler_prefix: str(prefixPath, 'handler path'),
    max_request_body_size: int(65536, 'max request body size in bytes'),
    connect_code_to_http_response: obj(
      {
        enabled: bool(false, 'return HTTP responses for connect errors'),
        transforms: arr(
          obj({
            code: int(0, 'connect error code'),
            to: obj({ status_code: int(0, 'HTTP status'), body: str('', 'HTTP body') }),
          }),
          'error code to HTTP response transforms',
        ),
      },
      'connect error to HTTP response mapping',
    ),
  });

const wsFields = () => ({
  handler_prefix: str('/connection/websocket', 'handler path'),
  compression: bool(false, 'permessage-deflate'),
  compression_min_size: int(0, 'min message size to compress'),
  compression_level: int(1, 'compression level'),
  read_buffer_size: int(0, 'read buffer size'),
  use_write_buffer_pool: bool(false, 'use a write buffer pool'),
  write_buffer_size: int(0, 'write buffer size'),
  write_timeout: dur('1000ms', 'write timeout'),
  message_size_limit: int(65536, 'max incoming message size'),
  decompressed_message_size_limit: int(0, 'max decompressed size (0 = 10x message_size_limit)'),
});

const toggle = (prefixPath: string, what: string) =>
  obj({ enabled: bool(false, `enable ${what}`), handler_prefix: str(prefixPath, 'handler path') });

/** The root of the configuration schema. */
export const configSchema = obj({
  http_server: obj({
    address: str('', 'bind address ("" = all interfaces)'),
    port: int(8000, 'main port'),
    internal_address: str('', 'internal listener address'),
    internal_port: str('', 'internal listener port (API, admin, metrics, health...)'),
    tls: tls('TLS for the main listener'),
    tls_autocert: obj({
      enabled: bool(false, "ACME (Let's Encrypt) certificates"),
      host_whitelist: list([], 'allowed hosts'),
      cache_dir: str('', 'certificate cache dir'),
      email: str('', 'ACME contact email'),
      server_name: str('', 'server name'),
      http: bool(false, 'serve ACME HTTP-01 challenge'),
      http_addr: str(':80', 'HTTP-01 challenge address'),
    }),
    tls_external: bool(false, 'TLS only on external endpoints'),
    internal_tls: tls('TLS for the internal listener'),
    http3: obj({ enabled: bool(false, 'experimental HTTP/3') }),
    h2c_external: bool(false, 'cleartext HTTP/2 on the external port'),
  }),
  log: obj({
    level: str('info', 'log level', ['none', 'trace', 'debug', 'info', 'warn', 'error']),
    file: str('', 'log to this file instead of stdout'),
  }),
  engine: obj({
    type: str('memory', 'engine type', ['memory', 'redis']),
    redis: obj({
      prefix: prefix(),
      ...redisConnection(),
      history_use_lists: bool(false, 'use lists instead of streams for history'),
      ...presenceTTL(),
    }),
  }),
  broker: obj({
    enabled: bool(false, 'use a separate broker (overrides the engine broker)'),
    type: str('memory', 'broker type', ['memory', 'redis', 'nats', 'postgres', 'redisnats']),
    redis: redisBroker(),
    nats: natsBroker(),
    postgres: obj(postgresBrokerFields(), 'PostgreSQL broker'),
    redisnats: obj({ redis: redisBroker(), nats: natsBroker() }, 'experimental Redis+NATS broker'),
  }),
  presence_manager: obj({
    enabled: bool(false, 'use a separate presence manager'),
    type: str('memory', 'presence manager type', ['memory', 'redis']),
    redis: obj({ prefix: prefix(), ...redisConnection(), ...presenceTTL() }),
  }),
  map_broker: obj({
    type: str('memory', 'map broker type', ['memory', 'redis', 'postgres']),
    redis: obj({
      prefix: prefix(),
      ...redisConnection(),
      cleanup_interval: dur('1s', 'cleanup interval'),
      cleanup_batch_size: int(100, 'cleanup batch size'),
      idempotent_result_ttl: dur('5m', 'idempotent result TTL'),
      skip_pub_sub: bool(false, 'skip PUB/SUB'),
    }),
    postgres: obj({
      ...postgresBrokerFields(),
      ttl_check_interval: dur('1s', 'TTL check interval'),
    }),
  }),
  controller: obj({
    enabled: bool(false, 'use a separate controller'),
    type: str('', 'controller type', ['postgres']),
    postgres: obj({
      dsn: str('', 'PostgreSQL DSN'),
      tls: tls(),
      pool_size: int(8, 'pool size'),
      num_shards: int(1, 'shards'),
      table_prefix: str('cf', 'table prefix'),
      poll_interval: dur('50ms', 'poll interval'),
      use_notify: bool(false, 'use LISTEN/NOTIFY'),
      notify_dsn: str('', 'DSN for LISTEN/NOTIFY'),
      partition_retention_days: int(1, 'partitions kept (days)'),
      partition_lookahead_days: int(2, 'partitions created ahead (days)'),
      partition_cleanup_interval: dur('1m', 'partition cleanup interval'),
      batch_size: int(1000, 'batch size'),
      skip_schema_init: bool(false, 'do not create the schema'),
    }),
  }),
  shared_poll: obj({
    hmac_secret_key: str('', 'HMAC secret for shared poll track signatures'),
    hmac_previous_secret_key: str('', 'previous HMAC secret'),
    hmac_previous_secret_key_valid_until: int(0, 'unix seconds the previous secret is valid until'),
    concurrency_limit: int(0, 'refresh concurrency limit'),
  }),
  client: obj({
    proxy: obj({
      connect: enabledProxy('connect proxy'),
      refresh: enabledProxy('refresh proxy'),
    }),
    allowed_origins: list([], 'allowed Origin patterns (empty = only requests without Origin)'),
    token: obj(tokenFields(), 'connection token verification'),
    subscription_token: obj(
      { enabled: bool(false, 'separate subscription token verifier'), ...tokenFields() },
      'subscription token verification',
    ),
    allow_anonymous_connect_without_token: bool(false, 'connect without token as anonymous'),
    disallow_anonymous_connection_tokens: bool(false, 'reject tokens with empty sub'),
    ping_interval: dur('25s', 'server ping period (> pong_timeout)'),
    pong_timeout: dur('8s', 'time to receive pong'),
    expired_close_delay: dur('25s', 'grace after connection expiry'),
    expired_sub_close_delay: dur('25s', 'grace after subscription expiry'),
    stale_close_delay: dur('10s', 'time to send connect'),
    channel_limit: int(128, 'max subscriptions per connection'),
    queue_max_size: int(1048576, 'max queued bytes per connection'),
    write_delay: dur('0', 'collect outgoing messages this long before writing (Centrifugo PRO key)'),
    max_messages_in_frame: int(0, 'max messages per transport frame, 0 = no limit (Centrifugo PRO key)'),
    presence_update_interval: dur('27s', 'presence refresh period'),
    concurrency: int(0, 'commands of one connection run in parallel, at most this many (0 = in order)'),
    channel_position_check_delay: dur('40s', 'positioning check period'),
    channel_position_max_time_lag: dur('0', 'max lag for positioning'),
    connection_limit: int(0, 'per-node connection limit'),
    user_connection_limit: int(0, 'per-user connection limit'),
    connection_rate_limit: int(0, 'new connections per second per node'),
    connect_include_server_time: bool(false, 'include server time in connect result'),
    history_max_publication_limit: int(300, 'max publications per history call'),
    recovery_max_publication_limit: int(300, 'max recovered publications'),
    insecure_skip_token_signature_verify: bool(false, 'do not verify token signatures (testing)'),
    user_id_http_header: str('', 'trusted HTTP header holding the user id'),
    insecure: bool(false, 'insecure mode: everyone allowed (development only)'),
    subscribe_to_user_personal_channel: obj({
      enabled: bool(false, 'subscribe every user to its personal channel'),
      personal_channel_namespace: str('', 'namespace of the personal channel'),
      single_connection: bool(false, 'keep a single connection per user'),
    }),
    connect_code_to_unidirectional_disconnect: obj({
      enabled: bool(false, 'map connect error codes to disconnects'),
      transforms: arr(
        obj({
          code: int(0, 'connect error code'),
          to: obj({ code: int(0, 'disconnect code'), reason: str('', 'disconnect reason') }),
        }),
        'error code to disconnect transforms',
      ),
    }),
  }),
  channel: obj({
    proxy: obj({
      subscribe: proxy('default subscribe proxy'),
      publish: proxy('default publish proxy'),
      sub_refresh: proxy('default sub refresh proxy'),
      subscribe_stream: proxy('default subscribe stream proxy'),
      map_publish: proxy('default map publish proxy'),
      map_remove: proxy('default map remove proxy'),
      shared_poll_refresh: proxy('default shared poll refresh proxy'),
    }),
    without_namespace: obj(channelOptionFields(), 'options of channels without namespace'),
    namespaces: arr(
      obj({ name: str('', 'namespace name'), ...channelOptionFields() }, 'channel namespace'),
      'channel namespaces',
      true,
    ),
    history_meta_ttl: dur('720h', 'default stream metadata TTL'),
    publication_data_format: str('', 'default publication data format', ['json', 'json_object', 'binary']),
    max_length: int(255, 'max channel name length'),
    private_prefix: str('$', 'private channel prefix'),
    namespace_boundary: str(':', 'namespace separator'),
    user_boundary: str('#', 'user-limited channel marker'),
    user_separator: str(',', 'user id separator'),
  }),
  rpc: obj({
    proxy: proxy('default RPC proxy'),
    without_namespace: obj({
      proxy_enabled: bool(false, 'proxy RPC without namespace'),
      proxy_name: str('default', 'RPC proxy name'),
    }),
    namespaces: arr(
      obj({
        name: str('', 'RPC namespace name'),
        proxy_enabled: bool(false, 'proxy RPC calls'),
        proxy_name: str('default', 'RPC proxy name'),
      }),
      'RPC namespaces',
      true,
    ),
    ping: obj({
      enabled: bool(false, 'built-in ping RPC method'),
      method: str('ping', 'ping method name'),
    }),
    namespace_boundary: str(':', 'RPC namespace separator'),
  }),
  proxies: arr(obj({ name: str('', 'proxy name'), ...proxyFields() }, 'named proxy'), 'named proxies', true),
  http_api: obj({
    disabled: bool(false, 'disable the HTTP API'),
    handler_prefix: str('/api', 'handler path'),
    key: str('', 'API key'),
    error_mode: str('', 'error mode', ['transport']),
    external: bool(false, 'serve on the external port when an internal port is set'),
    insecure: bool(false, 'no API authentication'),
  }),
  grpc_api: obj({
    enabled: bool(false, 'enable the GRPC API'),
    error_mode: str('', 'error mode', ['transport']),
    address: str('', 'bind address'),
    port: int(10000, 'port'),
    key: str('', 'API key'),
    tls: tls(),
    reflection: bool(false, 'GRPC reflection'),
    max_receive_message_size: int(0, 'max receive message size'),
  }),
  consumers: arr(consumer, 'asynchronous consumers', true),
  websocket: obj({ disabled: bool(false, 'disable WebSocket'), ...wsFields() }),
  sse: obj({
    enabled: bool(false, 'enable SSE (bidirectional emulation)'),
    handler_prefix: str('/connection/sse', 'handler path'),
    max_request_body_size: int(65536, 'max request body size'),
  }),
  http_stream: obj({
    enabled: bool(false, 'enable HTTP streaming (bidirectional emulation)'),
    handler_prefix: str('/connection/http_stream', 'handler path'),
    max_request_body_size: int(65536, 'max request body size'),
  }),
  webtransport: obj({
    enabled: bool(false, 'enable WebTransport (needs HTTP/3)'),
    handler_prefix: str('/connection/webtransport', 'handler path'),
    message_size_limit: int(65536, 'max message size'),
  }),
  uni_sse: uniHttp('/connection/uni_sse'),
  uni_http_stream: uniHttp('/connection/uni_http_stream'),
  uni_websocket: obj({
    enabled: bool(false, 'enable unidirectional WebSocket'),
    ...wsFields(),
    handler_prefix: str('/connection/uni_websocket', 'handler path'),
    disable_closing_handshake: bool(false, 'do not send close frames'),
    disable_disconnect_push: bool(false, 'do not push disconnect'),
    join_push_messages: bool(false, 'join pushes into one frame'),
  }),
  uni_grpc: obj({
    enabled: bool(false, 'enable unidirectional GRPC'),
    address: str('', 'bind address'),
    port: int(11000, 'port'),
    max_receive_message_size: int(0, 'max receive message size'),
    tls: tls(),
  }),
  emulation: obj({
    handler_prefix: str('/emulation', 'handler path'),
    max_request_body_size: int(65536, 'max request body size'),
  }),
  admin: obj({
    enabled: bool(false, 'enable admin UI and endpoints'),
    handler_prefix: str('', 'UI mount prefix'),
    password: str('', 'admin login password'),
    secret: str('', 'admin token signing secret'),
    insecure: bool(false, 'no admin authentication'),
    web_path: str('', 'serve a custom admin UI build'),
    web_proxy_address: str('', 'proxy admin UI to a dev server'),
    external: bool(false, 'serve on the external port when an internal port is set'),
  }),
  prometheus: obj({
    enabled: bool(false, 'expose Prometheus metrics'),
    handler_prefix: str('/metrics', 'handler path'),
    instrument_http_handlers: bool(false, 'instrument HTTP handlers'),
    recovered_publications_histogram: bool(false, 'recovered publications histogram'),
    native_histograms: bool(false, 'native histograms'),
  }),
  health: toggle('/health', 'health endpoint'),
  swagger: toggle('/swagger', 'Swagger UI'),
  debug: toggle('/debug/pprof', 'debug endpoints'),
  init: toggle('/connection/init', 'init endpoint'),
  opentelemetry: obj({
    enabled: bool(false, 'OpenTelemetry tracing, exported over OTLP as the OTEL_* environment variables say'),
    api: bool(false, 'trace server API requests (HTTP and GRPC), continuing the caller traceparent'),
    consuming: bool(false, 'trace the messages async consumers process'),
    google_cloud_adc_auth: bool(false, 'accepted; not supported by Gyre (no Google credentials are sent)'),
  }),
  graphite: obj({
    enabled: bool(false, 'push metrics to Graphite (plaintext protocol over TCP)'),
    host: str('localhost', 'Graphite host'),
    port: int(2003, 'Graphite plaintext port'),
    prefix: str('centrifugo', 'path prefix; the node name follows it'),
    interval: dur('10s', 'export interval'),
    tags: bool(false, 'labels as Graphite tags (name;label=value) instead of path parts'),
  }),
  usage_stats: obj({ disabled: bool(false, 'disable anonymous usage stats') }),
  node: obj({
    name: str('', 'node name ("" = <hostname>_<port>)'),
    info_metrics_aggregate_interval: dur('60s', 'node info metrics aggregation interval'),
  }),
  shutdown: obj({ timeout: dur('30s', 'graceful shutdown limit') }),
  pid_file: str('', 'write the process id to this file'),
  enable_unreleased_features: bool(false, 'enable experimental features'),
});

// Compile-time proof that the schema and the hand-written Config type describe the same shape.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expand<T> = T extends object ? { [K in keyof T]: Expand<T[K]> } : T;
const schemaMatchesConfig: Equal<Expand<Infer<typeof configSchema>>, Expand<Config>> = true;
void schemaMatchesConfig;

/** Env prefix Centrifugo uses, and the Gyre one (which wins when both are set). */
export const ENV_PREFIXES = ['CENTRIFUGO_', 'GYRE_'] as const;

/** Env variable name of a key path: `client.ping_interval` ⇒ `CENTRIFUGO_CLIENT_PING_INTERVAL`. */
export function envName(path: string, envPrefix: string = 'CENTRIFUGO_'): string {
  return envPrefix + path.toUpperCase().replace(/\./g, '_');
}

/** A leaf or array entry found while walking the schema. */
export interface SchemaEntry {
  path: string;
  node: SchemaNode;
}

/**
 * Every leaf and array under `root` in declaration order, with dotted paths. Arrays are yielded as
 * one entry (their elements are walked with `walkSchema(array.element, 'x[]')`).
 */
export function walkSchema(root: ObjectNode = configSchema, base = ''): SchemaEntry[] {
  const out: SchemaEntry[] = [];
  for (const [key, node] of Object.entries(root.fields)) {
    const path = base ? `${base}.${key}` : key;
    if (node.kind === 'object') out.push(...walkSchema(node, path));
    else out.push({ path, node });
  }
  return out;
}

/** Default value of any schema node (fresh objects every call). */
export function defaultOf(node: SchemaNode): unknown {
  switch (node.kind) {
    case 'object': {
      const o: Record<string, unknown> = {};
      for (const [k, n] of Object.entries(node.fields)) o[k] = defaultOf(n);
      return o;
    }
    case 'array':
      return [];
    case 'string[]':
      return [...node.default];
    case 'map':
      return { ...node.default };
    default:
      return node.default;
  }
}

/** A complete Config with every default filled in (durations in ms). */
export function defaultConfig(): Config {
  return defaultOf(configSchema) as Config;
}

/** Finds the node at a dotted path (array elements addressed as `x[]`); undefined if unknown. */
export function nodeAt(path: string): SchemaNode | undefined {
  let node: SchemaNode = configSchema;
  for (const part of path.split('.')) {
    const isElem = part.endsWith('[]');
    const key = isElem ? part.slice(0, -2) : part;
    if (node.kind !== 'object') return undefined;
    const next: SchemaNode | undefined = node.fields[key];
    if (!next) return undefined;
    node = next;
    if (isElem) {
      if (node.kind !== 'array') return undefined;
      node = node.element;
    }
  }
  return node;
}
