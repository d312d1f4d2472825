import { invalidToken } from './errors.js';

/**
 * Override of namespace options carried in token `subs[ch].override` / subscription token
 * `override`. On the wire each is `{"value": bool}`; here the booleans are flattened.
 */
export interface SubscribeOverride {
  presence?: boolean;
  join_leave?: boolean;
  force_push_join_leave?: boolean;
  force_recovery?: boolean;
  force_positioning?: boolean;
}

/**
 * One entry of the connection token `subs` claim. As in Centrifugo, `b64info` wins over `info`
 * and `b64data` over `data`.
 */
export interface TokenSubscription {
  info?: Uint8Array;
  data?: Uint8Array;
  override?: SubscribeOverride;
}

/** Parsed claims of a verified connection token. */
export interface ConnectTokenClaims {
  /** User id from `sub` (or `user_id_claim`); `""` = anonymous. */
  userId: string;
  /** Connection expiry, unix seconds: `expire_at` when present (0 = never), else `exp`, else 0. */
  expireAt: number;
  /** Raw `exp` claim, when present. */
  exp?: number;
  /** Connection info (`b64info` decoded, else `info` JSON bytes). */
  info?: Uint8Array;
  /** `channels` claim (server-side subscriptions). */
  channels: string[];
  /** `subs` claim; when non-empty it takes precedence over `channels`. */
  subs?: Record<string, TokenSubscription>;
  /** `meta` claim (server-only connection metadata), when it is a JSON object. */
  meta?: Record<string, unknown>;
  /** Every claim as decoded from the payload. */
  raw: Record<string, unknown>;
}

/** Parsed claims of a verified subscription token. */
export interface SubscribeTokenClaims {
  userId: string;
  /** The channel the token grants (required). */
  channel: string;
  /** Deprecated `client` claim; `""` when absent. */
  client: string;
  /** Subscription expiry, unix seconds: `expire_at` when present (0 = never), else `exp`, else 0. */
  expireAt: number;
  exp?: number;
  info?: Uint8Array;
  data?: Uint8Array;
  override?: SubscribeOverride;
  raw: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const b64re = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeB64(value: unknown, claim: string): Uint8Array {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !b64re.test(value)) {
    throw invalidToken(`${claim} is not valid base64`);
  }
  return Buffer.from(value, 'base64');
}

function jsonBytes(value: unknown): Uint8Array | undefined {
  if (value === undefined || value === null) return undefined;
  return Buffer.from(JSON.stringify(value));
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(payload: Json, claim: string): string {
  const v = payload[claim];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw invalidToken(`${claim} must be a string`);
  return v;
}

function optNumber(payload: Json, claim: string): number | undefined {
  const v = payload[claim];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalidToken(`${claim} must be a number`);
  return v;
}

/** Binary form wins over the JSON one, as in Centrifugo. */
function pickBytes(obj: Json, jsonKey: string, b64Key: string): Uint8Array | undefined {
  const b64 = obj[b64Key];
  if (b64 !== undefined && b64 !== null && b64 !== '') return decodeB64(b64, b64Key);
  return jsonBytes(obj[jsonKey]);
}

const overrideKeys = [
  'presence',
  'join_leave',
  'force_push_join_leave',
  'force_recovery',
  'force_positioning',
] as const;

function parseOverride(v: unknown): SubscribeOverride | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalidToken('override must be an object');
  const out: SubscribeOverride = {};
  for (const key of overrideKeys) {
    const item = v[key];
    if (item === undefined || item === null) continue;
    if (!isObject(item)) throw invalidToken(`override.${key} must be an object`);
    const value = item['value'];
    if (value !== undefined && value !== null && typeof value !== 'boolean') {
      throw invalidToken(`override.${key}.value must be a boolean`);
    }
    out[key] = value === true;
  }
  return out;
}

/** `expire_at` when present (0 or negative = never expires), else `exp`, else 0. */
function expiry(exp: number | undefined, expireAt: number | undefined): number {
  if (expireAt !== undefined) return expireAt > 0 ? Math.floor(expireAt) : 0;
  return exp !== undefined ? Math.floor(exp) : 0;
}

/**
 * Reads the user id from `payload` following a dot-separated JSON path (`user_id_claim`, default
 * `sub`). Strings are returned as is, numbers and booleans as text, objects as JSON, anything
 * missing as `""`.
 */
export function extractUserId(payload: Json, path: string): string {
  if (path === '' || path === 'sub') return optString(payload, 'sub');
  let cur: unknown = payload;
  for (const part of path.split('.')) {
    if (!isObject(cur)) return '';
    cur = cur[part];
  }
  if (cur === undefined || cur === null) return '';
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return JSON.stringify(cur);
}

/** Checks the registered claims every token shares (types only; values are checked by the verifier). */
export function checkRegisteredClaims(payload: Json): void {
  optNumber(payload, 'exp');
  optNumber(payload, 'nbf');
  optNumber(payload, 'iat');
  optString(payload, 'iss');
  optString(payload, 'sub');
  const aud = payload['aud'];
  if (aud !== undefined && aud !== null && typeof aud !== 'string') {
    if (!Array.isArray(aud) || aud.some((a) => typeof a !== 'string')) {
      throw invalidToken('aud must be a string or an array of strings');
    }
  }
}

/** Audience values of a token (`aud` may be a string or an array). */
export function audiences(payload: Json): string[] {
  const aud = payload['aud'];
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === 'string');
  return [];
}

/** Builds connection token claims from a verified payload. Throws `TokenError('invalid')`. */
export function parseConnectClaims(payload: Json, userIdClaim: string): ConnectTokenClaims {
  const exp = optNumber(payload, 'exp');
  const claims: ConnectTokenClaims = {
    userId: extractUserId(payload, userIdClaim),
    expireAt: expiry(exp, optNumber(payload, 'expire_at')),
    channels: [],
    raw: payload,
  };
  if (exp !== undefined) claims.exp = exp;
  const info = pickBytes(payload, 'info', 'b64info');
  if (info) claims.info = info;
  const channels = payload['channels'];
  if (channels !== undefined && channels !== null) {
    if (!Array.isArray(channels) || channels.some((c) => typeof c !== 'string')) {
      throw invalidToken('channels must be an array of strings');
    }
    claims.channels = channels as string[];
  }
  const subs = payload['subs'];
  if (subs !== undefined && subs !== null) {
    if (!isObject(subs)) throw invalidToken('subs must be an object');
    const out: Record<string, TokenSubscription> = {};
    for (const [ch, v] of Object.entries(subs)) {
      if (v === null) {
        out[ch] = {};
        continue;
      }
      if (!isObject(v)) throw invalidToken(`subs.${ch} must be an object`);
      const s: TokenSubscription = {};
      const sInfo = pickBytes(v, 'info', 'b64info');
      if (sInfo) s.info = sInfo;
      const sData = pickBytes(v, 'data', 'b64data');
      if (sData) s.data = sData;
      const ov = parseOverride(v['override']);
      if (ov) s.override = ov;
      out[ch] = s;
    }
    if (Object.keys(out).length > 0) claims.subs = out;
  }
  const meta = payload['meta'];
  if (isObject(meta)) claims.meta = meta;
  return claims;
}

/** Builds subscription token claims from a verified payload. Throws `TokenError('invalid')`. */
export function parseSubscribeClaims(payload: Json, userIdClaim: string): SubscribeTokenClaims {
  const exp = optNumber(payload, 'exp');
  const claims: SubscribeTokenClaims = {
    userId: extractUserId(payload, userIdClaim),
    channel: optString(payload, 'channel'),
    client: optString(payload, 'client'),
    expireAt: expiry(exp, optNumber(payload, 'expire_at')),
    raw: payload,
  };
  if (exp !== undefined) claims.exp = exp;
  const info = pickBytes(payload, 'info', 'b64info');
  if (info) claims.info = info;
  const data = pickBytes(payload, 'data', 'b64data');
  if (data) claims.data = data;
  const ov = parseOverride(payload['override']);
  if (ov) claims.override = ov;
  return claims;
}
