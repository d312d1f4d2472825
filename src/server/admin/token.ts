/**
 * Admin session tokens: what `POST <prefix>/admin/auth` hands out for the right password and what
 * `<prefix>/admin/api` accepts. A token is `v1.<expires>.<mac>`: the expiry as Unix seconds and a
 * base64url HMAC-SHA256 over a purpose label and that expiry, keyed with `admin.secret`. It holds
 * no other data; changing the secret invalidates every issued token.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Lifetime of an admin token (the same 30 days Centrifugo's admin tokens live). */
export const ADMIN_TOKEN_TTL_MS = 30 * 24 * 60 * 60 * 1000;

const VERSION = 'v1';
const PURPOSE = 'gyre-admin-token';
const EXPIRES_RE = /^[0-9]{1,15}$/;

function mac(secret: string, expires: string): Buffer {
  return createHmac('sha256', secret).update(`${PURPOSE}|${VERSION}|${expires}`).digest();
}

/** Issues a token valid until `nowMs + ttlMs`. */
export function createAdminToken(secret: string, nowMs = Date.now(), ttlMs = ADMIN_TOKEN_TTL_MS): string {
  const expires = String(Math.floor((nowMs + ttlMs) / 1000));
  return `${VERSION}.${expires}.${mac(secret, expires).toString('base64url')}`;
}

/**
 * True when `token` was issued with `secret` and has not expired at `nowMs`. Never throws; the MAC
 * is compared in constant time.
 */
export function verifyAdminToken(secret: string, token: string, nowMs = Date.now()): boolean {
  if (secret === '') return false;
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== VERSION) return false;
  const expires = parts[1] as string;
  if (!EXPIRES_RE.test(expires)) return false;
  const given = Buffer.from(parts[2] as string, 'base64url');
  const want = mac(secret, expires);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return false;
  return Number(expires) * 1000 > nowMs;
}

/**
 * Compares a submitted password with the configured one without leaking where they differ or
 * their lengths through timing: both sides are hashed to equal-length digests first.
 */
export function passwordMatches(given: string, expected: string): boolean {
  if (expected === '') return false;
  const key = 'gyre-admin-password';
  const a = createHmac('sha256', key).update(given).digest();
  const b = createHmac('sha256', key).update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * The admin token a request carries: `Authorization: token <t>` (scheme case-insensitive) or, when
 * there is no Authorization header, the `token` query parameter. `undefined` when none; `null` when
 * an Authorization header is present in any other form (refused without looking further).
 */
export function requestToken(req: IncomingMessage): string | undefined | null {
  const h = req.headers.authorization;
  if (h !== undefined && h !== '') {
    const [scheme, value, ...rest] = h.trim().split(/\s+/);
    if (rest.length > 0 || value === undefined || scheme?.toLowerCase() !== 'token') return null;
    return value;
  }
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const t = new URLSearchParams(url.slice(q + 1)).get('token');
  return t === null || t === '' ? undefined : t;
}
