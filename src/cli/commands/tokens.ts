import { createTokenVerifiers, signToken, TokenError } from '../../server/auth/index.js';
import { formatDuration } from '../../server/config/index.js';
import type { Config } from '../../server/config/index.js';
import type { CliIO } from '../io.js';
import { loadValid, printErrors } from '../common.js';

/** Options shared by `gentoken` and `gensubtoken`. */
export interface GenTokenOptions {
  config: string;
  user: string;
  /** Seconds; -1 = no `exp` claim. */
  ttl: number;
  quiet: boolean;
  /** `gensubtoken` only. */
  channel?: string;
}

const userText = (user: string) => (user === '' ? 'anonymous user' : `user "${user}"`);

/** `gyre gentoken` / `gyre gensubtoken` (when `opts.channel` is set). */
export async function runGenToken(
  io: CliIO,
  kind: 'connection' | 'subscription',
  opts: GenTokenOptions,
): Promise<number> {
  if (!Number.isInteger(opts.ttl) || opts.ttl < -1) {
    printErrors(io, [`invalid --ttl ${opts.ttl}: must be seconds (-1 for no expiration)`]);
    return 1;
  }
  if (kind === 'subscription' && !opts.channel) {
    printErrors(io, ['channel is required (-s/--channel)']);
    return 1;
  }
  const res = await loadValid(io, { file: opts.config });
  if (!res) return 1;
  const config = res.config;
  const settings =
    kind === 'subscription' && config.client.subscription_token.enabled
      ? config.client.subscription_token
      : config.client.token;
  if (settings.hmac_secret_key === '') {
    const key =
      settings === config.client.token
        ? 'client.token.hmac_secret_key'
        : 'client.subscription_token.hmac_secret_key';
    printErrors(io, [`no HMAC secret key set in configuration (${key})`]);
    return 1;
  }
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  claims[settings.user_id_claim || 'sub'] = opts.user;
  if (kind === 'subscription') claims['channel'] = opts.channel;
  claims['iat'] = now;
  if (opts.ttl !== -1) claims['exp'] = now + opts.ttl;
  const token = await signToken(config, claims, kind);
  if (opts.quiet) {
    io.out(`${token}\n`);
    return 0;
  }
  const what =
    kind === 'subscription'
      ? `subscription JWT for ${userText(opts.user)} and channel "${opts.channel}"`
      : `JWT for ${userText(opts.user)}`;
  const ttl =
    opts.ttl === -1 ? 'without expiration' : `with expiration TTL ${formatDuration(opts.ttl * 1000)}`;
  io.out(`HMAC SHA-256 ${what} ${ttl}:\n${token}\n`);
  return 0;
}

/** `gyre checktoken <TOKEN>` / `gyre checksubtoken <TOKEN>`. */
export async function runCheckToken(
  io: CliIO,
  kind: 'connection' | 'subscription',
  opts: { config: string; token: string },
): Promise<number> {
  const res = await loadValid(io, { file: opts.config });
  if (!res) return 1;
  const config: Config = res.config;
  let verifiers: ReturnType<typeof createTokenVerifiers>;
  try {
    verifiers = createTokenVerifiers(config);
  } catch (err) {
    printErrors(io, [(err as Error).message]);
    return 1;
  }
  try {
    if (kind === 'connection') {
      const claims = await verifiers.connection.verifyConnectToken(opts.token);
      io.out(`valid token for ${userText(claims.userId)}${expiry(claims.expireAt)}\n`);
      io.out(`claims: ${JSON.stringify(claims.raw)}\n`);
    } else {
      const claims = await verifiers.subscription.verifySubscribeToken(opts.token);
      io.out(
        `valid subscription token for ${userText(claims.userId)} and channel "${claims.channel}"${expiry(claims.expireAt)}\n`,
      );
      io.out(`claims: ${JSON.stringify(claims.raw)}\n`);
    }
    return 0;
  } catch (err) {
    const msg =
      err instanceof TokenError && err.kind === 'expired'
        ? 'token expired'
        : `token verification error: ${(err as Error).message}`;
    printErrors(io, [msg]);
    return 1;
  }
}

function expiry(expireAt: number): string {
  return expireAt > 0
    ? ` with expiration at ${new Date(expireAt * 1000).toISOString()}`
    : ' without expiration';
}
