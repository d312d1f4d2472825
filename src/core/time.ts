/** Current unix time in whole seconds. */
export function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Whole seconds left until `expireAt` (unix seconds), rounded down from the exact time so a client
 * refreshing after `ttl` seconds is not late by the fraction of the current second; at least 1,
 * because a zero `ttl` is not sent on the wire (zero values are omitted) and the client would then
 * see `expires` without a time.
 */
export function ttlUntil(expireAt: number): number {
  return Math.max(1, Math.floor(expireAt - Date.now() / 1000));
}
