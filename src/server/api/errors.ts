import { ClientError } from '../../protocol/codes.js';

/** Error object of server API responses: `{code, message}`, no `temporary` flag. */
export interface ApiErrorObject {
  code: number;
  message: string;
}

const messages: Record<number, string> = {
  100: 'internal server error',
  102: 'unknown channel',
  104: 'not found',
  106: 'limit exceeded',
  107: 'bad request',
  108: 'not available',
  112: 'unrecoverable position',
  113: 'conflict',
};

/** An API error as a throwable, for method handlers. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message?: string,
  ) {
    super(message ?? messages[code] ?? 'error');
  }
  toObject(): ApiErrorObject {
    return { code: this.code, message: this.message };
  }
}

export const apiErrors = {
  internal: (): ApiError => new ApiError(100),
  unknownChannel: (): ApiError => new ApiError(102),
  notFound: (): ApiError => new ApiError(104),
  badRequest: (): ApiError => new ApiError(107),
  notAvailable: (): ApiError => new ApiError(108),
  unrecoverablePosition: (): ApiError => new ApiError(112),
};

/**
 * Maps anything thrown by a handler or by core to an API error object. Protocol `ClientError`s
 * keep their code with the API's message for it; unknown errors become 100.
 */
export function toApiError(err: unknown): ApiErrorObject {
  if (err instanceof ApiError) return err.toObject();
  if (err instanceof ClientError) {
    return { code: err.code, message: messages[err.code] ?? err.message };
  }
  return { code: 100, message: messages[100] as string };
}

/** HTTP status of an API error in transport error mode (server-api.md §3.1). */
export function httpStatusFor(code: number): number {
  switch (code) {
    case 102:
    case 104:
      return 404;
    case 107:
    case 108:
      return 400;
    case 112:
      return 416;
    case 113:
      return 409;
    default:
      return 500;
  }
}
