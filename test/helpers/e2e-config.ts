/**
 * Shared config pieces for end-to-end tests: secrets, a namespace layout exercising every
 * permission flag, deep merge for per-test overrides, and payload helpers that hide the
 * difference between the JSON SDK build (parsed JSON) and the Protobuf build (bytes).
 */

export const HMAC_SECRET = 'e2e-hmac-secret-0123456789abcdef';
export const API_KEY = 'e2e-api-key';
export const ALLOWED_ORIGIN = 'http://allowed.example';

/** Plain-object deep merge: objects merge recursively, everything else (arrays too) replaces. */
export function merge<T extends Record<string, unknown>>(
  base: T,
  ...overrides: Record<string, unknown>[]
): T {
  const out: Record<string, unknown> = { ...base };
  for (const o of overrides) {
    for (const [k, v] of Object.entries(o)) {
      const cur = out[k];
      if (isPlainObject(cur) && isPlainObject(v)) out[k] = merge(cur, v);
      else out[k] = v;
    }
  }
  return out as T;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Namespaces used across the suite:
 * - no namespace: subscribe/publish for subscribers, presence, history, join/leave, user-limited channels
 * - `pub`: anyone authenticated may subscribe and publish
 * - `ro`: subscribe only; no presence/history (108), publishing denied (103)
 * - `locked`: nothing allowed for clients (103)
 * - `hist`: history + presence + join/leave readable by any authenticated client
 * - `re`: `channel_regex` `^[a-z]+$`
 * - `obj`: publication data must be a JSON object
 * - `anon`: anonymous clients may subscribe, publish, read presence/history
 * - `fj`: join/leave pushed without opt-in, recovery and positioning forced
 * - `chat`: bare namespace (env override target)
 */
export const NAMESPACES = [
  { name: 'pub', allow_subscribe_for_client: true, allow_publish_for_client: true },
  { name: 'ro', allow_subscribe_for_client: true },
  { name: 'locked' },
  {
    name: 'hist',
    allow_subscribe_for_client: true,
    allow_publish_for_client: true,
    history_size: 10,
    history_ttl: '300s',
    allow_history_for_client: true,
    presence: true,
    allow_presence_for_client: true,
    join_leave: true,
    allow_recovery: true,
    allow_positioning: true,
  },
  { name: 're', allow_subscribe_for_client: true, channel_regex: '^[a-z]+$' },
  {
    name: 'obj',
    allow_subscribe_for_client: true,
    allow_publish_for_client: true,
    publication_data_format: 'json_object',
  },
  {
    name: 'anon',
    allow_subscribe_for_client: true,
    allow_subscribe_for_anonymous: true,
    allow_publish_for_client: true,
    allow_publish_for_anonymous: true,
    presence: true,
    allow_presence_for_client: true,
    allow_presence_for_anonymous: true,
    history_size: 5,
    history_ttl: '60s',
    allow_history_for_client: true,
    allow_history_for_anonymous: true,
  },
  {
    name: 'fj',
    allow_subscribe_for_client: true,
    presence: true,
    join_leave: true,
    force_push_join_leave: true,
    history_size: 5,
    history_ttl: '60s',
    force_recovery: true,
    force_positioning: true,
  },
  { name: 'chat' },
];

/** The standard server config most e2e files start from (short timers, known secrets). */
export function standardConfig(...overrides: Record<string, unknown>[]): Record<string, unknown> {
  return merge(
    {
      client: {
        token: { hmac_secret_key: HMAC_SECRET },
        allowed_origins: [ALLOWED_ORIGIN],
        expired_close_delay: '1s',
        expired_sub_close_delay: '1s',
      },
      http_api: { key: API_KEY },
      log: { level: 'info' },
      shutdown: { timeout: '5s' },
      channel: {
        max_length: 64,
        without_namespace: {
          allow_subscribe_for_client: true,
          allow_publish_for_subscriber: true,
          presence: true,
          allow_presence_for_subscriber: true,
          history_size: 10,
          history_ttl: '300s',
          allow_history_for_subscriber: true,
          allow_user_limited_channels: true,
          join_leave: true,
        },
        namespaces: NAMESPACES,
      },
    },
    ...overrides,
  );
}

/**
 * Publication/command payload as delivered by either SDK build: the JSON build gives parsed
 * JSON, the Protobuf build gives the raw bytes. Returns parsed JSON in both cases.
 */
export function decodeData(data: unknown): unknown {
  if (data instanceof Uint8Array) return JSON.parse(new TextDecoder().decode(data));
  return data;
}

/** Payload for an SDK call: JSON value for the JSON build, UTF-8 JSON bytes for the Protobuf build. */
export function encodeData(build: 'json' | 'protobuf', value: unknown): unknown {
  return build === 'protobuf' ? new TextEncoder().encode(JSON.stringify(value)) : value;
}

/** Unique-enough suffix for channel and user names within one server. */
let counter = 0;
export function uniq(prefix = 'x'): string {
  counter += 1;
  return `${prefix}${process.pid}n${counter}`;
}
