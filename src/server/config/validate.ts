/**
 * Semantic validation of a loaded {@link Config}: Centrifugo v6's start-up checks plus a few more,
 * and everything Gyre itself cannot start with (`startup.ts`). Every message starts with the key
 * path it is about; all problems are collected.
 */
import type {
  ChannelOptions,
  Config,
  ConsumerConfig,
  HttpStatusTransform,
  ProxyConfig,
  TokenConfig,
} from './types.js';
import type { ObjectNode, SchemaNode } from './schema-types.js';
import { configSchema } from './schema.js';
import { formatDuration } from './duration.js';
import { compileGoRegex } from './regex.js';
import { startupProblems } from './startup.js';

const NAME_RE = /^[-a-zA-Z0-9_.]{2,}$/;
const CONSUMER_NAME_RE = /^[a-zA-Z0-9_]{2,}$/;
const CLAIM_RE = /^[a-zA-Z_]+$/;
const DEFAULT_PROXY = 'default';
/** Keys with a `oneOf` list where the empty string is not a valid value. */
const REQUIRED_CHOICE = new Set([
  'log.level',
  'engine.type',
  'broker.type',
  'presence_manager.type',
  'map_broker.type',
  'consumers[].type',
]);

/**
 * Validates `config`. Returns every problem found as `"<key path>: <problem>"`; empty = valid.
 */
export function validateConfig(config: Config): string[] {
  const errs: string[] = [];
  const err = (path: string, msg: string) => errs.push(`${path}: ${msg}`);

  checkShapeRules(configSchema, config, '', '', err);

  const c = config;
  if (c.client.ping_interval > 0 && c.client.ping_interval <= c.client.pong_timeout) {
    err(
      'client.ping_interval',
      `must be greater than client.pong_timeout (${formatDuration(c.client.pong_timeout)})`,
    );
  }
  if (c.http_server.h2c_external) {
    if (c.http_server.internal_port === '' || c.http_server.internal_port === String(c.http_server.port)) {
      err('http_server.h2c_external', 'requires a separate http_server.internal_port');
    }
    if (c.http_server.tls.enabled) {
      err('http_server.h2c_external', 'cannot be used together with http_server.tls.enabled');
    }
  }
  if (c.admin.enabled && !c.admin.insecure) {
    if (c.admin.password === '') err('admin.password', 'required when admin.enabled (or set admin.insecure)');
    if (c.admin.secret === '') err('admin.secret', 'required when admin.enabled (or set admin.insecure)');
  }
  if (c.admin.enabled && c.admin.web_proxy_address !== '' && !isHttpUrl(c.admin.web_proxy_address)) {
    err('admin.web_proxy_address', 'must be an http:// or https:// URL');
  }
  if (c.controller.enabled && c.controller.type === '') {
    err('controller.type', 'required when controller.enabled');
  }
  // zlib levels run 0 to 9 (negatives are refused with every negative integer); a higher level
  // would only fail at the first compressed write.
  for (const key of ['websocket', 'uni_websocket'] as const) {
    if (c[key].compression_level > 9) err(`${key}.compression_level`, 'must be between 0 and 9');
  }
  if (c.graphite.enabled) {
    if (c.graphite.host === '') err('graphite.host', 'required when graphite.enabled');
    if (c.graphite.port < 1 || c.graphite.port > 65535) err('graphite.port', 'must be between 1 and 65535');
    if (c.graphite.interval <= 0) err('graphite.interval', 'must be greater than 0');
  }
  if (c.broker.enabled && c.broker.type === 'postgres') {
    checkPostgres('broker.postgres', c.broker.postgres, err);
  }
  if (c.controller.enabled && c.controller.type === 'postgres') {
    checkPostgres('controller.postgres', c.controller.postgres, err);
  }

  checkToken('client.token', c.client.token, err);
  checkToken('client.subscription_token', c.client.subscription_token, err);

  if (c.client.proxy.connect.enabled) checkProxy('client.proxy.connect', c.client.proxy.connect, err);
  if (c.client.proxy.refresh.enabled) checkProxy('client.proxy.refresh', c.client.proxy.refresh, err);

  checkWholeSeconds('channel.history_meta_ttl', c.channel.history_meta_ttl, err);

  c.client.connect_code_to_unidirectional_disconnect.transforms.forEach((t, i) => {
    const p = `client.connect_code_to_unidirectional_disconnect.transforms[${i}]`;
    if (t.code === 0) err(`${p}.code`, 'must be set');
    if (t.to.code === 0) err(`${p}.to.code`, 'must be set');
    if (!isAscii(t.to.reason)) err(`${p}.to.reason`, 'must be ASCII');
  });
  for (const key of ['uni_sse', 'uni_http_stream'] as const) {
    c[key].connect_code_to_http_response.transforms.forEach((t, i) => {
      const p = `${key}.connect_code_to_http_response.transforms[${i}]`;
      if (t.code === 0) err(`${p}.code`, 'must be set');
      if (t.to.status_code === 0) err(`${p}.to.status_code`, 'must be set');
    });
  }

  // Named proxies.
  const proxyNames = new Set<string>();
  c.proxies.forEach((p, i) => {
    const path = `proxies[${i}]`;
    if (!NAME_RE.test(p.name))
      err(`${path}.name`, `invalid proxy name "${p.name}" (must match ${NAME_RE.source})`);
    else if (p.name === DEFAULT_PROXY) err(`${path}.name`, `proxy name "${DEFAULT_PROXY}" is reserved`);
    if (proxyNames.has(p.name)) err(`${path}.name`, `duplicate proxy name "${p.name}"`);
    proxyNames.add(p.name);
    checkProxy(path, p, err);
  });
  proxyNames.add(DEFAULT_PROXY);

  // Channel namespaces.
  const nsNames = new Set<string>();
  c.channel.namespaces.forEach((ns, i) => {
    const path = `channel.namespaces[${i}]`;
    if (!NAME_RE.test(ns.name)) {
      err(`${path}.name`, `invalid namespace name "${ns.name}" (must match ${NAME_RE.source})`);
    }
    if (nsNames.has(ns.name)) err(`${path}.name`, `namespace name must be unique: "${ns.name}"`);
    nsNames.add(ns.name);
  });
  checkChannelOptions('channel.without_namespace', c.channel.without_namespace, c, proxyNames, err);
  c.channel.namespaces.forEach((ns, i) => {
    checkChannelOptions(`channel.namespaces[${i}]`, ns, c, proxyNames, err);
  });

  const personal = c.client.subscribe_to_user_personal_channel;
  if (personal.enabled) {
    const nsName = personal.personal_channel_namespace;
    if (nsName === '') {
      if (personal.single_connection && !c.channel.without_namespace.presence) {
        err(
          'client.subscribe_to_user_personal_channel.single_connection',
          'requires channel.without_namespace.presence',
        );
      }
    } else {
      const ns = c.channel.namespaces.find((n) => n.name === nsName);
      if (!ns) {
        err(
          'client.subscribe_to_user_personal_channel.personal_channel_namespace',
          `namespace "${nsName}" not found in channel.namespaces`,
        );
      } else if (personal.single_connection && !ns.presence) {
        err(
          'client.subscribe_to_user_personal_channel.single_connection',
          `requires presence in namespace "${nsName}"`,
        );
      }
    }
  }

  // RPC.
  checkProxyName('rpc.without_namespace.proxy_name', c.rpc.without_namespace.proxy_name, proxyNames, err);
  const rpcNames = new Set<string>();
  c.rpc.namespaces.forEach((ns, i) => {
    const path = `rpc.namespaces[${i}]`;
    if (!NAME_RE.test(ns.name)) {
      err(`${path}.name`, `invalid rpc namespace name "${ns.name}" (must match ${NAME_RE.source})`);
    }
    if (rpcNames.has(ns.name)) err(`${path}.name`, `rpc namespace name must be unique: "${ns.name}"`);
    rpcNames.add(ns.name);
    checkProxyName(`${path}.proxy_name`, ns.proxy_name, proxyNames, err);
  });

  // Consumers.
  const consumerNames = new Set<string>();
  c.consumers.forEach((cons, i) => {
    const path = `consumers[${i}]`;
    if (!CONSUMER_NAME_RE.test(cons.name)) {
      err(`${path}.name`, `invalid consumer name "${cons.name}" (must match ${CONSUMER_NAME_RE.source})`);
    }
    if (consumerNames.has(cons.name)) err(`${path}.name`, `consumer name must be unique: "${cons.name}"`);
    consumerNames.add(cons.name);
    if (cons.enabled) checkConsumer(path, cons, err);
  });

  // What Gyre cannot start with (unsupported types, PEMs and keys that do not load, ...).
  errs.push(...startupProblems(c));
  return errs;
}

type Err = (path: string, msg: string) => void;

/** Generic per-key rules from the schema: allowed string values, non-negative numbers. */
function checkShapeRules(node: ObjectNode, value: unknown, path: string, schemaPath: string, err: Err): void {
  const obj = value as Record<string, unknown>;
  for (const [key, child] of Object.entries(node.fields)) {
    const p = path ? `${path}.${key}` : key;
    const sp = schemaPath ? `${schemaPath}.${key}` : key;
    checkNode(child, obj[key], p, sp, err);
  }
}

function checkNode(node: SchemaNode, v: unknown, path: string, schemaPath: string, err: Err): void {
  switch (node.kind) {
    case 'object':
      checkShapeRules(node, v, path, schemaPath, err);
      return;
    case 'array':
      (v as unknown[]).forEach((el, i) =>
        checkShapeRules(node.element, el, `${path}[${i}]`, `${schemaPath}[]`, err),
      );
      return;
    case 'string':
      if (node.oneOf && typeof v === 'string') {
        const required = REQUIRED_CHOICE.has(schemaPath);
        if ((v !== '' || required) && !node.oneOf.includes(v)) {
          err(path, `unknown value ${JSON.stringify(v)} (allowed: ${node.oneOf.join(', ')})`);
        }
      }
      return;
    case 'duration':
      if (typeof v === 'number' && v < 0) err(path, 'must not be negative');
      return;
    case 'int':
      if (typeof v === 'number' && v < 0 && !schemaPath.endsWith('valid_until')) {
        err(path, 'must not be negative');
      }
      return;
    default:
      return;
  }
}

/**
 * Settings an enabled consumer cannot run without (Centrifugo's per-type checks). Whether Gyre
 * runs the type at all is checked with the other start-up problems (`startup.ts`).
 */
function checkConsumer(path: string, c: ConsumerConfig, err: Err): void {
  const need = (key: string, ok: boolean, msg = 'required'): void => {
    if (!ok) err(`${path}.${key}`, msg);
  };
  switch (c.type) {
    case 'postgresql': {
      const p = c.postgresql;
      need('postgresql.dsn', p.dsn !== '');
      need('postgresql.outbox_table_name', p.outbox_table_name !== '');
      return;
    }
    case 'nats_jetstream': {
      const n = c.nats_jetstream;
      need('nats_jetstream.url', n.url !== '');
      need('nats_jetstream.stream_name', n.stream_name !== '');
      need('nats_jetstream.durable_consumer_name', n.durable_consumer_name !== '');
      if (!n.use_existing_consumer) {
        need(
          'nats_jetstream.deliver_policy',
          ['new', 'all'].includes(n.deliver_policy),
          'must be "new" or "all"',
        );
      }
      if (n.publication_data_mode.enabled) {
        need(
          'nats_jetstream.publication_data_mode.channels_header',
          n.publication_data_mode.channels_header !== '',
          'required when publication_data_mode.enabled',
        );
      }
      return;
    }
    case 'redis_stream': {
      const r = c.redis_stream;
      const single = r.cluster_address.length > 0 || r.sentinel_address.length > 0;
      if (!single) {
        need('redis_stream.address', r.address.length > 0);
        need('redis_stream.address', r.address.length <= 1, 'one Redis address expected (no sharding)');
      }
      need('redis_stream.streams', r.streams.length > 0);
      need('redis_stream.consumer_group', r.consumer_group !== '');
      need('redis_stream.payload_value', r.payload_value !== '');
      if (r.publication_data_mode.enabled) {
        need(
          'redis_stream.publication_data_mode.channels_value',
          r.publication_data_mode.channels_value !== '',
          'required when publication_data_mode.enabled',
        );
      }
      return;
    }
    default:
      return;
  }
}

function checkToken(path: string, t: TokenConfig, err: Err): void {
  if (t.user_id_claim !== '' && !CLAIM_RE.test(t.user_id_claim)) {
    err(`${path}.user_id_claim`, `invalid claim name "${t.user_id_claim}" (must match ${CLAIM_RE.source})`);
  }
  if (t.audience !== '' && t.audience_regex !== '') {
    err(`${path}.audience_regex`, `cannot be used together with ${path}.audience`);
  }
  if (t.issuer !== '' && t.issuer_regex !== '') {
    err(`${path}.issuer_regex`, `cannot be used together with ${path}.issuer`);
  }
  for (const k of ['audience_regex', 'issuer_regex'] as const) {
    if (t[k] !== '') {
      try {
        compileGoRegex(t[k]);
      } catch (e) {
        err(`${path}.${k}`, `invalid regular expression: ${(e as Error).message}`);
      }
    }
  }
}

function checkProxy(path: string, p: ProxyConfig, err: Err): void {
  if (p.endpoint === '') err(`${path}.endpoint`, 'not set');
  if (p.timeout === 0) err(`${path}.timeout`, 'not set');
  p.http.status_to_code_transforms.forEach((t, i) =>
    checkStatusTransform(`${path}.http.status_to_code_transforms[${i}]`, t, err),
  );
}

function checkStatusTransform(path: string, t: HttpStatusTransform, err: Err): void {
  if (t.status_code === 0) err(`${path}.status_code`, 'must be set');
  if (t.to_error.code === 0 && t.to_disconnect.code === 0) {
    err(path, 'one of to_error.code or to_disconnect.code must be set');
  }
  if (t.to_error.code > 0 && t.to_disconnect.code > 0) {
    err(path, 'only one of to_error.code or to_disconnect.code can be set');
  }
  if (!isAscii(t.to_error.message)) err(`${path}.to_error.message`, 'must be ASCII');
  if (!isAscii(t.to_disconnect.reason)) err(`${path}.to_disconnect.reason`, 'must be ASCII');
  if (t.to_error.message.length > 123) err(`${path}.to_error.message`, 'can be up to 123 characters long');
  if (t.to_disconnect.reason.length > 123)
    err(`${path}.to_disconnect.reason`, 'can be up to 123 characters long');
}

function checkProxyName(path: string, name: string, names: Set<string>, err: Err): void {
  if (name !== '' && !names.has(name)) err(path, `proxy "${name}" not found in proxies`);
}

function checkWholeSeconds(path: string, ms: number, err: Err): void {
  if (ms > 0 && ms % 1000 !== 0) err(path, `sub-second precision is not supported (${formatDuration(ms)})`);
}

function checkChannelOptions(
  path: string,
  o: ChannelOptions,
  c: Config,
  proxyNames: Set<string>,
  err: Err,
): void {
  checkWholeSeconds(`${path}.history_ttl`, o.history_ttl, err);
  checkWholeSeconds(`${path}.history_meta_ttl`, o.history_meta_ttl, err);
  const hasHistory = o.history_size > 0 && o.history_ttl > 0;
  if ((o.history_size !== 0) !== (o.history_ttl !== 0)) {
    const missing = o.history_size === 0 ? 'history_size' : 'history_ttl';
    err(`${path}.${missing}`, 'both history_size and history_ttl must be set to enable history');
  }
  const metaTTL = o.history_meta_ttl !== 0 ? o.history_meta_ttl : c.channel.history_meta_ttl;
  const metaKey = o.history_meta_ttl !== 0 ? 'history_meta_ttl' : 'channel.history_meta_ttl';
  if (o.history_ttl > metaTTL) {
    err(`${path}.history_ttl`, `must be ≤ ${metaKey} (${formatDuration(metaTTL)})`);
  }
  if (o.force_recovery && !hasHistory) {
    err(`${path}.force_recovery`, 'requires history (history_size and history_ttl)');
  }
  if (o.auto_cache_recover && !(o.force_recovery && o.force_recovery_mode === 'cache')) {
    err(`${path}.auto_cache_recover`, 'requires force_recovery and force_recovery_mode "cache"');
  }
  if (o.channel_regex !== '') {
    try {
      compileGoRegex(o.channel_regex);
    } catch (e) {
      err(`${path}.channel_regex`, `invalid regular expression: ${(e as Error).message}`);
    }
  }
  for (const dt of o.allowed_delta_types) {
    if (dt !== 'fossil')
      err(`${path}.allowed_delta_types`, `unknown delta type ${JSON.stringify(dt)} (allowed: fossil)`);
  }
  if (
    o.subscribe_stream_proxy_enabled &&
    (o.subscribe_proxy_enabled || o.publish_proxy_enabled || o.sub_refresh_proxy_enabled)
  ) {
    err(
      `${path}.subscribe_stream_proxy_enabled`,
      'cannot be combined with subscribe, publish or sub_refresh proxies',
    );
  }
  const proxyRefs: Array<[string, string, boolean, ProxyConfig]> = [
    ['subscribe_proxy_name', o.subscribe_proxy_name, o.subscribe_proxy_enabled, c.channel.proxy.subscribe],
    ['publish_proxy_name', o.publish_proxy_name, o.publish_proxy_enabled, c.channel.proxy.publish],
    [
      'sub_refresh_proxy_name',
      o.sub_refresh_proxy_name,
      o.sub_refresh_proxy_enabled,
      c.channel.proxy.sub_refresh,
    ],
    [
      'subscribe_stream_proxy_name',
      o.subscribe_stream_proxy_name,
      o.subscribe_stream_proxy_enabled,
      c.channel.proxy.subscribe_stream,
    ],
    [
      'map.publish_proxy_name',
      o.map.publish_proxy_name,
      o.map.publish_proxy_enabled,
      c.channel.proxy.map_publish,
    ],
    [
      'map.remove_proxy_name',
      o.map.remove_proxy_name,
      o.map.remove_proxy_enabled,
      c.channel.proxy.map_remove,
    ],
  ];
  const defaultKey: Record<string, string> = {
    subscribe_proxy_name: 'subscribe',
    publish_proxy_name: 'publish',
    sub_refresh_proxy_name: 'sub_refresh',
    subscribe_stream_proxy_name: 'subscribe_stream',
    'map.publish_proxy_name': 'map_publish',
    'map.remove_proxy_name': 'map_remove',
  };
  for (const [key, name, enabled, def] of proxyRefs) {
    checkProxyName(`${path}.${key}`, name, proxyNames, err);
    if (enabled && name === DEFAULT_PROXY) checkProxy(`channel.proxy.${defaultKey[key]}`, def, err);
  }
  checkMap(path, o, c, err);
  if (o.subscription_type === 'shared_poll') {
    if (c.shared_poll.hmac_secret_key === '') {
      err('shared_poll.hmac_secret_key', `required when ${path}.subscription_type is "shared_poll"`);
    }
    const sp = o.shared_poll.proxy_name === '' ? DEFAULT_PROXY : o.shared_poll.proxy_name;
    checkProxyName(`${path}.shared_poll.proxy_name`, sp, proxyNames, err);
    if (sp === DEFAULT_PROXY)
      checkProxy('channel.proxy.shared_poll_refresh', c.channel.proxy.shared_poll_refresh, err);
    if (o.shared_poll.publish_enabled && o.shared_poll.mode !== 'versioned') {
      err(`${path}.shared_poll.publish_enabled`, 'requires shared_poll.mode "versioned"');
    }
  }
}

function checkMap(path: string, o: ChannelOptions, c: Config, err: Err): void {
  const m = o.map;
  const p = `${path}.map`;
  const isMapType = ['map', 'map_clients', 'map_users'].includes(o.subscription_type);
  if (isMapType && m.mode === '') err(`${p}.mode`, 'required when subscription_type is a map type');
  if ((m.mode === 'ephemeral' || m.mode === 'recoverable') && m.key_ttl === 0) {
    err(`${p}.key_ttl`, `required when map.mode is "${m.mode}"`);
  }
  if (m.mode === 'persistent' && m.key_ttl !== 0)
    err(`${p}.key_ttl`, 'must not be set when map.mode is "persistent"');
  if (m.mode === 'ephemeral') {
    if (m.stream_size > 0) err(`${p}.stream_size`, 'must be 0 for map.mode "ephemeral"');
    if (m.stream_ttl !== 0) err(`${p}.stream_ttl`, 'must be 0 for map.mode "ephemeral"');
    if (m.meta_ttl !== 0) err(`${p}.meta_ttl`, 'must be 0 for map.mode "ephemeral"');
  }
  if ((m.mode === 'recoverable' || m.mode === 'persistent') && m.meta_ttl !== 0) {
    const streamTTL = m.stream_ttl === 0 ? 60_000 : m.stream_ttl;
    if (m.meta_ttl < streamTTL)
      err(`${p}.meta_ttl`, `must be ≥ map.stream_ttl (${formatDuration(streamTTL)})`);
  }
  if (m.remove_client_on_unsubscribe && !isMapType) {
    err(`${p}.remove_client_on_unsubscribe`, 'requires subscription_type to be a map type');
  }
  if (m.min_page_size > 0 && m.max_page_size > 0 && m.min_page_size > m.max_page_size) {
    err(`${p}.min_page_size`, `must not exceed map.max_page_size (${m.max_page_size})`);
  }
  if (m.default_page_size > 0 && m.max_page_size > 0 && m.default_page_size > m.max_page_size) {
    err(`${p}.default_page_size`, `must not exceed map.max_page_size (${m.max_page_size})`);
  }
  if (m.default_page_size > 0 && m.min_page_size > 0 && m.default_page_size < m.min_page_size) {
    err(`${p}.default_page_size`, `must not be below map.min_page_size (${m.min_page_size})`);
  }
  const boundary = c.channel.namespace_boundary || ':';
  for (const [key, expected] of [
    ['map_clients_presence_channel_prefix', 'map_clients'],
    ['map_users_presence_channel_prefix', 'map_users'],
  ] as const) {
    const prefix = o[key];
    if (prefix === '') continue;
    const idx = prefix.indexOf(boundary);
    const nsName = idx >= 0 ? prefix.slice(0, idx) : '';
    const target =
      nsName === '' ? c.channel.without_namespace : c.channel.namespaces.find((n) => n.name === nsName);
    if (!target) {
      err(`${path}.${key}`, `"${prefix}" resolves to namespace "${nsName}" which does not exist`);
    } else if (target.subscription_type !== expected) {
      err(
        `${path}.${key}`,
        `target namespace "${nsName}" must have subscription_type "${expected}" (got "${target.subscription_type}")`,
      );
    }
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `broker.postgres` / `controller.postgres`: a DSN, a usable table prefix, shards in range. */
function checkPostgres(
  path: string,
  c: { dsn: string; table_prefix: string; num_shards: number; pool_size: number },
  err: (path: string, msg: string) => void,
): void {
  if (c.dsn === '') err(`${path}.dsn`, 'required');
  if (!/^[a-z_][a-z0-9_]{0,29}$/.test(c.table_prefix)) {
    err(
      `${path}.table_prefix`,
      'must be lower-case letters, digits and _ (at most 30, not starting with a digit)',
    );
  }
  if (c.num_shards < 1 || c.num_shards > 1024) err(`${path}.num_shards`, 'must be between 1 and 1024');
  if (c.pool_size < 1) err(`${path}.pool_size`, 'must be at least 1');
}
