import type { ProtocolError } from './types.js';

/** Error codes of client protocol replies and server API responses. */
export const ErrorCode = {
  internal: 100,
  unauthorized: 101,
  unknownChannel: 102,
  permissionDenied: 103,
  methodNotFound: 104,
  alreadySubscribed: 105,
  limitExceeded: 106,
  badRequest: 107,
  notAvailable: 108,
  tokenExpired: 109,
  expired: 110,
  tooManyRequests: 111,
  unrecoverablePosition: 112,
  concurrentPagination: 113,
} as const;

const errorMessages: Record<number, string> = {
  100: 'internal server error',
  101: 'unauthorized',
  102: 'unknown channel',
  103: 'permission denied',
  104: 'method not found',
  105: 'already subscribed',
  106: 'limit exceeded',
  107: 'bad request',
  108: 'not available',
  109: 'token expired',
  110: 'expired',
  111: 'too many requests',
  112: 'unrecoverable position',
  113: 'concurrent pagination',
};

/** A protocol error as an Error object, so it can be thrown through async handlers. */
export class ClientError extends Error implements ProtocolError {
  readonly code: number;
  readonly temporary: boolean;
  constructor(code: number, message?: string, temporary?: boolean) {
    super(message ?? errorMessages[code] ?? 'error');
    this.code = code;
    this.temporary = temporary ?? (code === 100 || code === 111 || code === 113);
  }
  toWire(): ProtocolError {
    const e: ProtocolError = { code: this.code, message: this.message };
    if (this.temporary) e.temporary = true;
    return e;
  }
}

export function clientError(code: number, message?: string): ClientError {
  return new ClientError(code, message);
}

/** Disconnect codes: 3000-3499 and 4000-4499 let the client reconnect, 3500-3999 and 4500-4999 do not. */
export const DisconnectCode = {
  connectionClosed: 3000,
  shutdown: 3001,
  serverError: 3004,
  expired: 3005,
  subExpired: 3006,
  slow: 3008,
  writeError: 3009,
  insufficientState: 3010,
  forceReconnect: 3011,
  noPong: 3012,
  tooManyRequests: 3013,
  stateInvalidated: 3014,
  invalidToken: 3500,
  badRequest: 3501,
  stale: 3502,
  forceNoReconnect: 3503,
  connectionLimit: 3504,
  channelLimit: 3505,
  inappropriateProtocol: 3506,
  permissionDenied: 3507,
  notAvailable: 3508,
  tooManyErrors: 3509,
} as const;

const disconnectReasons: Record<number, string> = {
  3000: 'connection closed',
  3001: 'shutdown',
  3004: 'internal server error',
  3005: 'connection expired',
  3006: 'subscription expired',
  3008: 'slow',
  3009: 'write error',
  3010: 'insufficient state',
  3011: 'force reconnect',
  3012: 'no pong',
  3013: 'too many requests',
  3014: 'state invalidated',
  3500: 'invalid token',
  3501: 'bad request',
  3502: 'stale',
  3503: 'force disconnect',
  3504: 'connection limit',
  3505: 'channel limit',
  3506: 'inappropriate protocol',
  3507: 'permission denied',
  3508: 'not available',
  3509: 'too many errors',
};

export interface Disconnect {
  code: number;
  reason: string;
}

/** A disconnect as an Error object, thrown by handlers to close the connection with a code. */
export class DisconnectError extends Error implements Disconnect {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason?: string) {
    const r = reason ?? disconnectReasons[code] ?? 'disconnect';
    super(r);
    this.code = code;
    this.reason = r;
  }
}

export function disconnect(code: number, reason?: string): DisconnectError {
  return new DisconnectError(code, reason);
}

/** True when a client receiving this code reconnects. */
export function shouldReconnect(code: number): boolean {
  return (code >= 3000 && code < 3500) || (code >= 4000 && code < 4500) || code >= 5000 || code < 3000;
}

/** Unsubscribe push codes. */
export const UnsubscribeCode = {
  server: 2000,
  insufficientState: 2500,
  expired: 2501,
  stateInvalidated: 2502,
} as const;
