import type { ConnectionMeta } from '../../core/transport.js';
import type { ProxyConfig } from '../config/index.js';

/** GRPC method names of `CentrifugoProxy` used for unary proxy calls. */
export type ProxyMethodName = 'Connect' | 'Refresh' | 'Subscribe' | 'Publish' | 'RPC' | 'SubRefresh';

/**
 * A proxy request before wire encoding: the proto fields in snake_case, with `data` as raw
 * payload bytes and `meta` as the connection meta object. Transports encode `data` as raw JSON,
 * `b64data` (binary mode) or GRPC bytes, and `meta` as raw JSON or JSON bytes.
 */
export interface ProxyRequest {
  [field: string]: unknown;
  data?: Uint8Array;
  meta?: Record<string, unknown>;
}

/** A backend error (`error` object of a response, or an HTTP status transform). */
export interface ProxyErrorBody {
  code: number;
  message: string;
  temporary: boolean;
}

/** A backend disconnect (`disconnect` object of a response, or an HTTP status transform). */
export interface ProxyDisconnectBody {
  code: number;
  reason: string;
}

/**
 * A decoded proxy response, transport-independent: in `result` (and each `result.subs[ch]`) the
 * payload fields `data` and `info` are bytes (`b64data`/`b64info` already decoded, winning when
 * non-empty) and `meta` is an object.
 */
export interface ProxyResponse {
  result?: Record<string, unknown>;
  error?: ProxyErrorBody;
  disconnect?: ProxyDisconnectBody;
}

/** Who the call is made for: the connection's HTTP request and emulated headers. */
export interface CallContext {
  transportName: string;
  connMeta: ConnectionMeta | undefined;
  /** Headers the SDK sent in the connect command (`ConnectRequest.headers`). */
  emulated: Record<string, string> | undefined;
}

/** A proxy backend reachable over HTTP or GRPC. */
export interface ProxyTransport {
  readonly kind: 'http' | 'grpc';
  /**
   * Sends one request; resolves with the decoded response, rejects with {@link ProxyCallError}
   * on any transport failure (unreachable, timeout, unexpected status, undecodable body).
   */
  call(method: ProxyMethodName, request: ProxyRequest, ctx: CallContext): Promise<ProxyResponse>;
  close(): void;
}

/** A failed proxy call (the backend did not give a usable answer in time). */
export class ProxyCallError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyCallError';
  }
}

/**
 * Headers (HTTP) or metadata (GRPC) for one call (proxy.md §2), lowest priority first: static
 * ones, emulated headers allowed by `emulated_headers`, then the connection's transport headers
 * allowed by `http_headers` (for a GRPC client without HTTP headers: its metadata allowed by
 * `grpc_metadata`). Names are matched case-insensitively and sent lower-cased.
 */
export function forwardedHeaders(
  cfg: ProxyConfig,
  ctx: CallContext,
  statics: Record<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(statics)) out[k.toLowerCase()] = v;
  if (ctx.emulated && cfg.emulated_headers.length > 0) {
    const allowed = lowerSet(cfg.emulated_headers);
    for (const [k, v] of Object.entries(ctx.emulated)) {
      const name = k.toLowerCase();
      if (allowed.has(name)) out[name] = v;
    }
  }
  const transport = ctx.connMeta?.headers;
  if (transport) {
    const list = ctx.transportName === 'uni_grpc' ? cfg.grpc_metadata : cfg.http_headers;
    for (const name of lowerSet(list)) {
      const v = transport[name];
      if (v !== undefined) out[name] = v;
    }
  }
  return out;
}

function lowerSet(names: string[]): Set<string> {
  return new Set(names.map((n) => n.toLowerCase()));
}

const base64Re = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 decode; throws {@link ProxyCallError} on malformed input. */
export function decodeBase64(s: string): Uint8Array {
  const clean = s.replace(/[\r\n]/g, '');
  if (clean.length % 4 !== 0 || !base64Re.test(clean)) throw new ProxyCallError('invalid base64 in response');
  return Buffer.from(clean, 'base64');
}

/** Converts a payload field pair (`name` raw + `b64name` base64) to bytes; base64 wins when non-empty. */
export function normalizePayload(
  obj: Record<string, unknown>,
  name: 'data' | 'info',
  raw: (v: unknown) => Uint8Array | undefined,
): void {
  const b64 = obj[`b64${name}`];
  delete obj[`b64${name}`];
  if (typeof b64 === 'string' && b64 !== '') {
    obj[name] = decodeBase64(b64);
    return;
  }
  const v = raw(obj[name]);
  if (v === undefined || v.length === 0) delete obj[name];
  else obj[name] = v;
}

/** Normalizes `result` payloads in place (see {@link ProxyResponse}). */
export function normalizeResult(
  result: Record<string, unknown>,
  raw: (v: unknown) => Uint8Array | undefined,
  meta: (v: unknown) => Record<string, unknown> | undefined,
): void {
  normalizePayload(result, 'data', raw);
  normalizePayload(result, 'info', raw);
  if ('meta' in result) {
    const m = meta(result['meta']);
    if (m === undefined) delete result['meta'];
    else result['meta'] = m;
  }
  const subs = result['subs'];
  if (subs !== null && typeof subs === 'object') {
    for (const s of Object.values(subs as Record<string, unknown>)) {
      if (s !== null && typeof s === 'object') {
        normalizePayload(s as Record<string, unknown>, 'data', raw);
        normalizePayload(s as Record<string, unknown>, 'info', raw);
      }
    }
  }
}

/** Reads `error` / `disconnect` objects of a response, validating their shape. */
export function readOutcome(body: Record<string, unknown>): ProxyResponse {
  const out: ProxyResponse = {};
  const d = body['disconnect'];
  if (d !== null && typeof d === 'object') {
    const o = d as Record<string, unknown>;
    out.disconnect = {
      code: Number(o['code'] ?? 0),
      reason: typeof o['reason'] === 'string' ? o['reason'] : '',
    };
  }
  const e = body['error'];
  if (e !== null && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    out.error = {
      code: Number(o['code'] ?? 0),
      message: typeof o['message'] === 'string' ? o['message'] : '',
      temporary: o['temporary'] === true,
    };
  }
  const r = body['result'];
  if (r !== null && typeof r === 'object' && !Array.isArray(r)) out.result = r as Record<string, unknown>;
  return out;
}
