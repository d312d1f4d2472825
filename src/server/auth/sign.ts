import { SignJWT } from 'jose';
import type { AuthConfig } from './types.js';

/**
 * Signs `claims` with HS256 using the configured HMAC secret: `client.token.hmac_secret_key`, or
 * for `kind: 'subscription'` the `client.subscription_token` one when that section is enabled.
 * Used by the CLI (`gentoken`, `gensubtoken`) and tests. Throws when no HMAC secret is set.
 */
export async function signToken(
  config: AuthConfig,
  claims: Record<string, unknown>,
  kind: 'connection' | 'subscription',
): Promise<string> {
  const sub = config.client.subscription_token;
  const settings = kind === 'subscription' && sub?.enabled ? sub : config.client.token;
  const secret = settings?.hmac_secret_key ?? '';
  if (secret === '') throw new Error('no HMAC secret key configured (client.token.hmac_secret_key)');
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(Buffer.from(secret, 'utf8'));
}
