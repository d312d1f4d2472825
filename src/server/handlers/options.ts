import type { ClientView, SubscribeOptions } from '../../core/handlers.js';
import type { SubscribeOverride } from '../auth/index.js';
import type { ChannelOptionsConfig, ChannelRules } from '../channels/index.js';

/**
 * Subscription options a namespace gives without any client request: presence, join/leave,
 * forced push of join/leave, forced positioning/recovery, recovery mode, meta TTL, delta types.
 */
export function namespaceSubscribeOptions(rules: ChannelRules, o: ChannelOptionsConfig): SubscribeOptions {
  return {
    emitPresence: o.presence === true,
    emitJoinLeave: o.join_leave === true,
    pushJoinLeave: o.force_push_join_leave === true,
    enablePositioning: o.force_positioning === true,
    enableRecovery: o.force_recovery === true,
    recoveryMode: o.force_recovery_mode === 'cache' ? 'cache' : 'stream',
    autoCacheRecover: o.auto_cache_recover === true,
    historyMetaTtl: rules.historyMetaTtl(o),
    allowedDeltaTypes: [...(o.allowed_delta_types ?? [])],
  };
}

const overrideKeys = [
  'presence',
  'join_leave',
  'force_push_join_leave',
  'force_recovery',
  'force_positioning',
] as const;

function plainObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
    ? (v as Record<string, unknown>)
    : undefined;
}

/**
 * An `override` object as proxy results and the server API carry it (`{presence: {value: true}}`),
 * flattened to booleans; entries that are not objects are ignored.
 */
export function overrideFromWire(v: unknown): SubscribeOverride | undefined {
  const o = plainObject(v);
  if (!o) return undefined;
  const out: SubscribeOverride = {};
  for (const k of overrideKeys) {
    const b = plainObject(o[k]);
    if (b) out[k] = b['value'] === true;
  }
  return out;
}

/** Applies an `override` object (token, proxy or API) to namespace-derived options. */
export function applyOverride(opts: SubscribeOptions, ov: SubscribeOverride | undefined): SubscribeOptions {
  if (!ov) return opts;
  if (ov.presence !== undefined) opts.emitPresence = ov.presence;
  if (ov.join_leave !== undefined) opts.emitJoinLeave = ov.join_leave;
  if (ov.force_push_join_leave !== undefined) opts.pushJoinLeave = ov.force_push_join_leave;
  if (ov.force_recovery !== undefined) opts.enableRecovery = ov.force_recovery;
  if (ov.force_positioning !== undefined) opts.enablePositioning = ov.force_positioning;
  return opts;
}

/**
 * The `allow_<kind>_for_client` / `_for_subscriber` / `_for_anonymous` rule (or insecure mode).
 * `forceSubscribed` treats the client as subscribed (used while it is subscribing).
 */
export function permitted(
  kind: 'presence' | 'history' | 'publish',
  o: ChannelOptionsConfig,
  client: ClientView,
  channel: string,
  insecure: boolean,
  forceSubscribed = false,
): boolean {
  const forClient = o[`allow_${kind}_for_client`] === true;
  const forSubscriber = o[`allow_${kind}_for_subscriber`] === true;
  const userOk = client.userId !== '' || o[`allow_${kind}_for_anonymous`] === true;
  if (forClient && userOk) return true;
  if (forSubscriber && userOk && (forceSubscribed || client.isSubscribed(channel))) return true;
  return insecure;
}
