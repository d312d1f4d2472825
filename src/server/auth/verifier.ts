import type { webcrypto } from 'node:crypto';
import { compactVerify } from 'jose';
import {
  audiences,
  checkRegisteredClaims,
  parseConnectClaims,
  parseSubscribeClaims,
  type ConnectTokenClaims,
  type SubscribeTokenClaims,
} from './claims.js';
import { invalidToken, TokenError } from './errors.js';
import { checkJwksTemplateSafety, fillTemplate, goRegex, JwksCache } from './jwks.js';
import { ecAlgs, HmacKeys, PublicKeys, rsaAlgs } from './keys.js';
import type { TokenSettings } from './types.js';

type CryptoKey = webcrypto.CryptoKey;
type Json = Record<string, unknown>;

/** Verifies connection and subscription JWTs with one set of token settings. */
export interface TokenVerifier {
  /** Resolves the claims of a valid connection token; rejects with `TokenError`. */
  verifyConnectToken(token: string): Promise<ConnectTokenClaims>;
  /** Resolves the claims of a valid subscription token; rejects with `TokenError`. */
  verifySubscribeToken(token: string): Promise<SubscribeTokenClaims>;
}

export interface VerifierOptions {
  /** Parse tokens without checking signatures (`client.insecure_skip_token_signature_verify`). */
  skipSignatureVerify?: boolean;
  /** Shared JWKS cache (tests inject one with a short TTL). */
  jwks?: JwksCache;
}

function decodeSegment(seg: string | undefined, what: string): Json {
  if (seg === undefined || seg === '') throw invalidToken(`missing ${what}`);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    throw invalidToken(`malformed ${what}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidToken(`${what} is not an object`);
  return v as Json;
}

/**
 * A JWT verifier following Centrifugo's order: decode, audience and issuer checks (collecting
 * named groups for a templated JWKS URL), signature, then `exp`/`nbf` (reported as `expired`).
 * With `jwks_public_endpoint` set, only JWKS keys are used.
 */
export class JwtVerifier implements TokenVerifier {
  private readonly hmac: HmacKeys | undefined;
  private readonly hmacPrevious: HmacKeys | undefined;
  private readonly hmacPreviousValidUntil: number;
  private readonly rsa: PublicKeys | undefined;
  private readonly ec: PublicKeys | undefined;
  private readonly jwksUrl: string;
  private readonly jwks: JwksCache | undefined;
  private readonly audience: string;
  private readonly audienceRe: RegExp | undefined;
  private readonly issuer: string;
  private readonly issuerRe: RegExp | undefined;
  private readonly userIdClaim: string;
  private readonly skipVerify: boolean;

  /** Throws a plain `Error` on invalid settings (bad PEM, regex, unsafe JWKS template). */
  constructor(settings: TokenSettings, opts: VerifierOptions = {}) {
    if (settings.audience && settings.audience_regex) {
      throw new Error('can not use both audience and audience_regex, configure only one of them');
    }
    if (settings.issuer && settings.issuer_regex) {
      throw new Error('can not use both issuer and issuer_regex, configure only one of them');
    }
    this.hmac = settings.hmac_secret_key ? new HmacKeys(settings.hmac_secret_key) : undefined;
    this.hmacPrevious = settings.hmac_previous_secret_key
      ? new HmacKeys(settings.hmac_previous_secret_key)
      : undefined;
    this.hmacPreviousValidUntil = settings.hmac_previous_secret_key_valid_until ?? 0;
    this.rsa = settings.rsa_public_key ? new PublicKeys(settings.rsa_public_key, rsaAlgs) : undefined;
    this.ec = settings.ecdsa_public_key ? new PublicKeys(settings.ecdsa_public_key, ecAlgs) : undefined;
    this.audience = settings.audience ?? '';
    this.issuer = settings.issuer ?? '';
    this.audienceRe = settings.audience_regex ? goRegex(settings.audience_regex) : undefined;
    this.issuerRe = settings.issuer_regex ? goRegex(settings.issuer_regex) : undefined;
    this.userIdClaim = settings.user_id_claim ?? '';
    this.skipVerify = opts.skipSignatureVerify ?? false;
    this.jwksUrl = settings.jwks_public_endpoint ?? '';
    if (this.jwksUrl) {
      if (!settings.insecure_skip_jwks_endpoint_safety_check) {
        checkJwksTemplateSafety(this.jwksUrl, [settings.issuer_regex ?? '', settings.audience_regex ?? '']);
      }
      this.jwks = opts.jwks ?? new JwksCache();
    }
  }

  async verifyConnectToken(token: string): Promise<ConnectTokenClaims> {
    const payload = await this.verify(token, true);
    return parseConnectClaims(payload, this.userIdClaim);
  }

  async verifySubscribeToken(token: string): Promise<SubscribeTokenClaims> {
    const payload = await this.verify(token, false);
    const claims = parseSubscribeClaims(payload, this.userIdClaim);
    if (claims.channel === '') throw invalidToken('channel claim is required for subscription JWT');
    return claims;
  }

  private async verify(token: string, connection: boolean): Promise<Json> {
    if (typeof token !== 'string') throw invalidToken('not a string');
    const parts = token.split('.');
    if (parts.length !== 3) throw invalidToken('malformed JWT');
    const header = decodeSegment(parts[0], 'header');
    const payload = decodeSegment(parts[1], 'payload');
    checkRegisteredClaims(payload);
    const vars = this.checkAudienceIssuer(payload);
    if (!this.skipVerify) await this.verifySignature(token, header, vars);
    if (
      connection &&
      payload['channel'] !== undefined &&
      payload['channel'] !== null &&
      payload['channel'] !== ''
    ) {
      throw invalidToken('connection JWT can not contain channel claim, only subscription JWT can');
    }
    const now = Date.now();
    const exp = payload['exp'] as number | undefined;
    const nbf = payload['nbf'] as number | undefined;
    if (
      (exp !== undefined && exp !== null && exp * 1000 <= now) ||
      (nbf !== undefined && nbf !== null && nbf * 1000 > now)
    ) {
      throw new TokenError('expired');
    }
    return payload;
  }

  private checkAudienceIssuer(payload: Json): Record<string, string> {
    const vars: Record<string, string> = {};
    if (this.audience !== '' && !audiences(payload).includes(this.audience))
      throw invalidToken('invalid audience');
    const iss = typeof payload['iss'] === 'string' ? payload['iss'] : '';
    if (this.issuer !== '' && iss !== this.issuer) throw invalidToken('invalid issuer');
    if (this.issuerRe) {
      const m = this.issuerRe.exec(iss);
      if (!m) throw invalidToken('issuer not matched');
      Object.assign(vars, m.groups ?? {});
    }
    if (this.audienceRe) {
      let matched = false;
      for (const aud of audiences(payload)) {
        const m = this.audienceRe.exec(aud);
        if (!m) continue;
        matched = true;
        Object.assign(vars, m.groups ?? {});
        break;
      }
      if (!matched) throw invalidToken('audience not matched');
    }
    return vars;
  }

  private async verifySignature(token: string, header: Json, vars: Record<string, string>): Promise<void> {
    const alg = typeof header['alg'] === 'string' ? header['alg'] : '';
    if (this.jwks) {
      const kid = typeof header['kid'] === 'string' ? header['kid'] : '';
      let key: CryptoKey;
      try {
        key = await this.jwks.getKey(fillTemplate(this.jwksUrl, vars), kid, alg);
      } catch (err) {
        throw invalidToken(err instanceof Error ? err.message : 'JWKS error');
      }
      return this.check(token, key, alg);
    }
    if (alg.startsWith('HS')) {
      if (!this.hmac?.supports(alg)) throw invalidToken(`disabled JWT algorithm: ${alg}`);
      if (header['crit'] !== undefined || header['b64'] !== undefined)
        throw invalidToken('unsupported JWS header');
      const dot = token.lastIndexOf('.');
      const input = token.slice(0, dot);
      const sig = token.slice(dot + 1);
      if (this.hmac.verify(alg, input, sig)) return;
      const prevValid = this.hmacPreviousValidUntil === 0 || Date.now() < this.hmacPreviousValidUntil * 1000;
      if (this.hmacPrevious && prevValid && this.hmacPrevious.verify(alg, input, sig)) return;
      throw invalidToken('signature verification failed');
    }
    const source = alg.startsWith('RS') ? this.rsa : alg.startsWith('ES') ? this.ec : undefined;
    const key = source ? await source.get(alg) : undefined;
    if (!key) throw invalidToken(`disabled or unsupported JWT algorithm: ${alg}`);
    return this.check(token, key, alg);
  }

  private async check(token: string, key: CryptoKey, alg: string): Promise<void> {
    if (!(await this.tryVerify(token, key, alg))) throw invalidToken('signature verification failed');
  }

  private async tryVerify(token: string, key: CryptoKey, alg: string): Promise<boolean> {
    try {
      await compactVerify(token, key, { algorithms: [alg] });
      return true;
    } catch {
      return false;
    }
  }
}
