import { compileGlob } from './glob.js';

/**
 * Builds the Origin check of client connection endpoints from `client.allowed_origins`.
 *
 * Contract: a request without an `Origin` header always passes; otherwise the lower-cased Origin
 * must match one of the glob patterns (also lower-cased). An empty list therefore accepts only
 * requests without Origin, and `"*"` accepts every Origin. Throws on a malformed pattern.
 */
export function createOriginCheck(
  allowedOrigins: readonly string[],
): (origin: string | undefined) => boolean {
  const matchers = allowedOrigins.map((p) => compileGlob(p.toLowerCase()));
  const any = allowedOrigins.includes('*');
  return (origin) => {
    if (origin === undefined || origin === '') return true;
    if (any) return true;
    const o = origin.toLowerCase();
    for (const m of matchers) if (m(o)) return true;
    return false;
  };
}
