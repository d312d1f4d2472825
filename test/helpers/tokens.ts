/**
 * JWT helpers for end-to-end tests (connection and subscription tokens), built with `jose`.
 */
import { SignJWT, type JWTPayload, type CryptoKey, type KeyObject } from 'jose';

/** Claims accepted by the helpers: any JWT payload plus Centrifugo's custom claims. */
export type Claims = JWTPayload & Record<string, unknown>;

/** Signs `claims` with HS256 and `secret`. Adds `iat` unless present. */
export async function hs256Token(secret: string, claims: Claims): Promise<string> {
  return signToken(new TextEncoder().encode(secret), 'HS256', claims);
}

/** Signs `claims` with any algorithm and key (`kid` goes to the protected header when given). */
export async function signToken(
  key: Uint8Array | CryptoKey | KeyObject,
  alg: string,
  claims: Claims,
  kid?: string,
): Promise<string> {
  const header: { alg: string; kid?: string; typ: string } = { alg, typ: 'JWT' };
  if (kid !== undefined) header.kid = kid;
  const payload: Claims = { iat: nowSeconds(), ...claims };
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

/** Unix time in whole seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Matches a compact JWT anywhere in a text (CLI output). */
export const JWT_RE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
