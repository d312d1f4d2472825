import { JwksCache } from './jwks.js';
import type { AuthConfig, TokenSettings } from './types.js';
import { JwtVerifier, type TokenVerifier } from './verifier.js';

export type {
  ConnectTokenClaims,
  SubscribeTokenClaims,
  SubscribeOverride,
  TokenSubscription,
} from './claims.js';
export { TokenError, type TokenErrorKind } from './errors.js';
export { JwksCache, type JwksOptions } from './jwks.js';
export { signToken } from './sign.js';
export type { AuthConfig, SubscriptionTokenSettings, TokenSettings } from './types.js';
export { JwtVerifier, type TokenVerifier, type VerifierOptions } from './verifier.js';

export interface TokenVerifiers {
  connection: TokenVerifier;
  /** `client.subscription_token` settings when enabled, else the connection verifier. */
  subscription: TokenVerifier;
}

/**
 * Builds the connection and subscription token verifiers from config. Throws a plain `Error`
 * for unusable settings (bad PEM, regex, both exact and regex audience/issuer, unsafe JWKS URL),
 * its message starting with the section (`client.token: ...` / `client.subscription_token: ...`).
 */
export function createTokenVerifiers(config: AuthConfig, opts: { jwks?: JwksCache } = {}): TokenVerifiers {
  const skip = config.client.insecure_skip_token_signature_verify ?? false;
  const jwks = opts.jwks ?? new JwksCache();
  const build = (key: string, settings: TokenSettings): JwtVerifier => {
    try {
      return new JwtVerifier(settings, { skipSignatureVerify: skip, jwks });
    } catch (err) {
      throw new Error(`${key}: ${(err as Error).message}`, { cause: err });
    }
  };
  const connection = build('client.token', config.client.token ?? {});
  const sub = config.client.subscription_token;
  const subscription = sub?.enabled ? build('client.subscription_token', sub) : connection;
  return { connection, subscription };
}
