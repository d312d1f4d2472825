/** Why a token was refused: `expired` (`exp` passed or `nbf` in the future) or anything else. */
export type TokenErrorKind = 'expired' | 'invalid';

/** Rejection of `verifyConnectToken` / `verifySubscribeToken`. `message` says why (for logs). */
export class TokenError extends Error {
  readonly kind: TokenErrorKind;
  constructor(kind: TokenErrorKind, message?: string) {
    super(message ?? (kind === 'expired' ? 'token expired' : 'invalid token'));
    this.name = 'TokenError';
    this.kind = kind;
  }
}

export function invalidToken(reason: string): TokenError {
  return new TokenError('invalid', `invalid token: ${reason}`);
}
