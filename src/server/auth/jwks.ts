import type { webcrypto } from 'node:crypto';
import { importJWK, type JWK } from 'jose';

type CryptoKey = webcrypto.CryptoKey;

/** Options of a JWKS key cache. */
export interface JwksOptions {
  /** How long a fetched key set is trusted, ms (default 1 hour). */
  ttlMs?: number;
  /** Timeout of one fetch attempt, ms (default 1000); a failed attempt is retried once. */
  timeoutMs?: number;
}

interface CachedSet {
  fetchedAt: number;
  keys: Map<string, JWK>;
}

const familyAlgs: Record<string, readonly string[]> = {
  RSA: ['RS256', 'RS384', 'RS512'],
  EC: ['ES256', 'ES384', 'ES512'],
  OKP: ['EdDSA'],
};

/**
 * Fetches JSON Web Key Sets and hands out verification keys by `kid`.
 *
 * A set is cached per URL for `ttlMs`; an unknown `kid` triggers a refetch (concurrent misses
 * share one request). Imported keys are cached per JWK object and algorithm, so a refreshed set
 * drops them. Only RSA (RS*), EC (ES*) and OKP Ed25519 (EdDSA) keys are usable; a JWK with
 * `alg` serves only that algorithm, one without serves its family.
 */
export class JwksCache {
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly sets = new Map<string, CachedSet>();
  private readonly inflight = new Map<string, Promise<CachedSet>>();
  private readonly imported = new WeakMap<JWK, Map<string, Promise<CryptoKey>>>();

  constructor(opts: JwksOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 3_600_000;
    this.timeoutMs = opts.timeoutMs ?? 1000;
  }

  /** Resolves the key for `kid` at `url` usable with `alg`; rejects when there is none. */
  async getKey(url: string, kid: string, alg: string): Promise<CryptoKey> {
    if (kid === '') throw new Error('token has no kid');
    let set = this.sets.get(url);
    if (!set || Date.now() - set.fetchedAt > this.ttlMs || !set.keys.has(kid)) {
      set = await this.refresh(url);
    }
    const jwk = set.keys.get(kid);
    if (!jwk) throw new Error(`kid ${kid} not found in JWKS`);
    const kty = jwk.kty ?? '';
    const allowed = familyAlgs[kty];
    if (!allowed) throw new Error(`unsupported key type ${kty}`);
    if (kty === 'OKP' && jwk.crv !== 'Ed25519') throw new Error(`unsupported OKP curve ${jwk.crv}`);
    if (jwk.alg !== undefined ? jwk.alg !== alg : !allowed.includes(alg)) {
      throw new Error(`algorithm ${alg} does not match key ${kid}`);
    }
    let perAlg = this.imported.get(jwk);
    if (!perAlg) {
      perAlg = new Map();
      this.imported.set(jwk, perAlg);
    }
    let key = perAlg.get(alg);
    if (!key) {
      key = importJWK({ ...jwk, alg }, alg) as Promise<CryptoKey>;
      perAlg.set(alg, key);
      key.catch(() => perAlg.delete(alg));
    }
    return key;
  }

  private refresh(url: string): Promise<CachedSet> {
    let p = this.inflight.get(url);
    if (!p) {
      p = this.fetchSet(url).finally(() => this.inflight.delete(url));
      this.inflight.set(url, p);
    }
    return p;
  }

  private async fetchSet(url: string): Promise<CachedSet> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
        if (!res.ok) throw new Error(`JWKS endpoint answered ${res.status}`);
        const body = (await res.json()) as { keys?: unknown };
        if (!Array.isArray(body.keys)) throw new Error('JWKS response has no keys array');
        const keys = new Map<string, JWK>();
        for (const k of body.keys as JWK[]) {
          if (k && typeof k === 'object' && typeof k.kid === 'string') keys.set(k.kid, k);
        }
        const set = { fetchedAt: Date.now(), keys };
        this.sets.set(url, set);
        return set;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('JWKS fetch failed');
  }
}

const placeholderRe = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/** Names of the `{{var}}` placeholders of a JWKS URL template. */
export function templateVars(url: string): string[] {
  return [...url.matchAll(placeholderRe)].map((m) => m[1] ?? '');
}

/** Fills `{{var}}` placeholders (URL-encoded values); rejects a placeholder without a value. */
export function fillTemplate(url: string, vars: Record<string, string>): string {
  return url.replace(placeholderRe, (_m, name: string) => {
    const v = vars[name];
    if (v === undefined || v === '') throw new Error(`no value for JWKS URL placeholder ${name}`);
    return encodeURIComponent(v);
  });
}

export { compileGoRegex as goRegex } from '../channels/rules.js';

const literalAlternation = /^(?:[A-Za-z0-9_-]|\\.)+(?:\|(?:[A-Za-z0-9_-]|\\.)+)*$/;

/** The body of the named group `name` in a regex source, or undefined. */
function groupBody(source: string, name: string): string | undefined {
  const m = new RegExp(`\\(\\?P?<${name}>`).exec(source);
  if (!m) return undefined;
  let depth = 1;
  const start = m.index + m[0].length;
  for (let i = start; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return source.slice(start, i);
  }
  return undefined;
}

/**
 * The JWKS endpoint safety check: every placeholder of a templated URL must come from a named
 * group of `issuer_regex`/`audience_regex` that only allows an explicit list of literal values,
 * so a crafted token cannot point key fetches at another host. Throws a config error.
 */
export function checkJwksTemplateSafety(url: string, regexSources: string[]): void {
  for (const name of templateVars(url)) {
    const bodies = regexSources.map((s) => groupBody(s, name)).filter((b): b is string => b !== undefined);
    if (bodies.length === 0) {
      throw new Error(
        `JWKS endpoint placeholder {{${name}}} has no named group in issuer_regex/audience_regex`,
      );
    }
    for (const b of bodies) {
      if (!literalAlternation.test(b)) {
        throw new Error(
          `JWKS endpoint placeholder {{${name}}} must be captured by a group listing literal values (like (?P<${name}>a|b))`,
        );
      }
    }
  }
}
