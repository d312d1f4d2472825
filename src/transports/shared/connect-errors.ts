import type { NodeHandlers } from '../../core/handlers.js';
import type { Node } from '../../core/node.js';
import { ClientError, DisconnectCode, type Disconnect } from '../../protocol/codes.js';

/** `client.connect_code_to_unidirectional_disconnect` as the config holds it. */
export interface UniDisconnectTransforms {
  enabled: boolean;
  transforms: ReadonlyArray<{ code: number; to: { code: number; reason: string } }>;
}

/** `<uni transport>.connect_code_to_http_response` as the config holds it. */
export interface HttpResponseTransforms {
  enabled: boolean;
  transforms: ReadonlyArray<{ code: number; to: { status_code: number; body: string } }>;
}

/** The built-in mapping of connect error codes to disconnects on unidirectional transports (§13). */
export function defaultUniDisconnect(code: number): Disconnect {
  switch (code) {
    case 109:
    case 110:
      return { code: DisconnectCode.expired, reason: 'connection expired' };
    case 111:
      return { code: DisconnectCode.tooManyRequests, reason: 'too many requests' };
    case 103:
      return { code: DisconnectCode.permissionDenied, reason: 'permission denied' };
    default:
      return { code: DisconnectCode.serverError, reason: 'internal server error' };
  }
}

/** The disconnect for a connect error code, after the configured transforms. */
export function uniDisconnectFor(code: number, cfg: UniDisconnectTransforms): Disconnect {
  if (cfg.enabled) {
    for (const t of cfg.transforms) if (t.code === code) return { code: t.to.code, reason: t.to.reason };
  }
  return defaultUniDisconnect(code);
}

/** The HTTP answer configured for a connect error code, if any. */
export function httpResponseFor(
  code: number,
  cfg: HttpResponseTransforms,
): { status: number; body: string } | undefined {
  if (!cfg.enabled) return undefined;
  for (const t of cfg.transforms) if (t.code === code) return { status: t.to.status_code, body: t.to.body };
  return undefined;
}

const TAPPED = Symbol('gyre.connectErrorTap');
type Tagged = NonNullable<NodeHandlers['onConnecting']> & { [TAPPED]?: true };

/** Connect error codes of watched clients (client id → code; 0 = none yet). */
const watched = new Map<string, number>();

/**
 * Lets a unidirectional transport learn the protocol error code a connect failed with.
 *
 * Why this exists: core turns a failed unidirectional connect straight into a disconnect
 * (`uniConnectDisconnect`), so the transport only sees the mapped code, while the config remaps
 * the original error code (`connect_code_to_unidirectional_disconnect`,
 * `connect_code_to_http_response`). Until core offers a hook for it, the node's `onConnecting`
 * handler is wrapped (once per handlers object, only when such a remap is configured) to record the
 * `ClientError` code of watched clients. Errors core raises itself (already-expired credentials,
 * 110) are not seen and keep core's default mapping.
 */
export const connectErrors = {
  /** Makes sure the node's current handlers are tapped. */
  ensureTap(node: Node): void {
    const h = node.handlers;
    // Called below with `h` as `this`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const orig = h.onConnecting as Tagged | undefined;
    if (orig === undefined || orig[TAPPED]) return;
    const tapped: Tagged = async (ev) => {
      try {
        return await orig.call(h, ev);
      } catch (err) {
        if (err instanceof ClientError && watched.has(ev.clientId)) watched.set(ev.clientId, err.code);
        throw err;
      }
    };
    tapped[TAPPED] = true;
    // A derived object keeps every other hook (own or inherited) as it was.
    const next = Object.create(h) as NodeHandlers;
    next.onConnecting = tapped;
    node.handlers = next;
  },
  watch(clientId: string): void {
    watched.set(clientId, 0);
  },
  /** The recorded error code, or 0. */
  code(clientId: string): number {
    return watched.get(clientId) ?? 0;
  },
  unwatch(clientId: string): void {
    watched.delete(clientId);
  },
};
