/**
 * Helpers for the streams end-to-end tests (history, recovery, positioning, presence,
 * join/leave, delta, tags): the namespaces they run in and a way to kill an SDK client's socket.
 */
import { apiPost, type SdkClient } from '../helpers/clients.js';
import { API_KEY, NAMESPACES, standardConfig } from '../helpers/e2e-config.js';

const stream = { allow_subscribe_for_client: true, history_size: 5, history_ttl: '300s' };

/**
 * Namespaces of the streams suite (added to the standard ones):
 * - `rec`: recovery and positioning forced, history of 5 readable by subscribers
 * - `cache`: recovery forced in cache mode; `acache`: the same with `auto_cache_recover`
 * - `pos`: positioning forced; stream and meta expire fast (1s / 2s) so the epoch changes
 * - `dl`: delta allowed and every publication a delta candidate (`delta_publish`)
 * - `dlp`: delta allowed, only publications with `delta: true`
 * - `pres`: presence and join/leave readable by subscribers; join/leave pushed on opt-in
 * - `tags`: tags filter allowed
 */
export const STREAM_NAMESPACES = [
  {
    name: 'rec',
    ...stream,
    force_recovery: true,
    force_positioning: true,
    allow_history_for_subscriber: true,
  },
  { name: 'cache', ...stream, force_recovery: true, force_recovery_mode: 'cache' },
  {
    name: 'acache',
    ...stream,
    force_recovery: true,
    force_recovery_mode: 'cache',
    auto_cache_recover: true,
  },
  {
    name: 'pos',
    allow_subscribe_for_client: true,
    history_size: 5,
    history_ttl: '1s',
    history_meta_ttl: '2s',
    force_positioning: true,
  },
  {
    name: 'dl',
    ...stream,
    history_size: 10,
    force_recovery: true,
    allowed_delta_types: ['fossil'],
    delta_publish: true,
  },
  { name: 'dlp', ...stream, history_size: 10, force_positioning: true, allowed_delta_types: ['fossil'] },
  {
    name: 'pres',
    allow_subscribe_for_client: true,
    presence: true,
    allow_presence_for_subscriber: true,
    join_leave: true,
  },
  { name: 'tags', allow_subscribe_for_client: true, allow_tags_filter: true },
];

/** The standard config plus the streams namespaces. */
export function streamsConfig(...overrides: Record<string, unknown>[]): Record<string, unknown> {
  return standardConfig({ channel: { namespaces: [...NAMESPACES, ...STREAM_NAMESPACES] } }, ...overrides);
}

/** Calls a server API method; throws on an HTTP or API error; returns `result`. */
export async function api(apiUrl: string, method: string, body: Record<string, unknown>): Promise<unknown> {
  const res = await apiPost(`${apiUrl}/${method}`, body, { 'X-API-Key': API_KEY });
  const json = res.json as { result?: unknown; error?: { code: number; message: string } } | undefined;
  if (res.status !== 200 || !json || json.error) {
    throw new Error(`API ${method} failed: ${res.status} ${res.text}`);
  }
  return json.result;
}

/**
 * Kills the client's WebSocket without a close handshake, as a network failure would: the SDK
 * sees an abnormal close and reconnects by itself. Reaches into the SDK's private transport.
 */
export function killSocket(c: SdkClient): void {
  const transport = (c as unknown as { _transport?: { _transport?: { terminate?: () => void } } })._transport
    ?._transport;
  if (!transport?.terminate) throw new Error('SDK transport has no socket to kill');
  transport.terminate();
}
