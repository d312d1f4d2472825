export { ApiExecutor, type ApiMetrics, type ApiProtocol } from './executor.js';
export { HttpApi, DEFAULT_API_MAX_BODY, type HttpApiOptions, type ApiRoute } from './http.js';
export { apiMethods, methodsByName, type ApiMethod } from './methods.js';
export { ApiError, toApiError, httpStatusFor, type ApiErrorObject } from './errors.js';
export type { ApiApp, ApiDeps, ApiReply, RpcExtension } from './types.js';
