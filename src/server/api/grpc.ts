import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from '../../core/logger.js';
import type { Config } from '../config/index.js';
import type { ApiTracer } from '../tracing.js';
import { ApiError, type ApiErrorObject } from './errors.js';
import type { ApiExecutor } from './executor.js';
import {
  bindGrpc,
  grpcCredentials,
  grpcServerOptions,
  protoPath,
  shutdownGrpc,
} from '../../transports/shared/grpc.js';
import { grpcDecoders, type GrpcMessage } from './grpc-decode.js';

/** Fully qualified name of the API service in `proto/api.proto`. */
export const GRPC_API_SERVICE = 'centrifugal.centrifugo.api.CentrifugoApi';

/** Served GRPC methods and the executor method each runs. */
const SERVED: ReadonlyMap<string, string> = new Map([
  ['Batch', 'batch'],
  ['Publish', 'publish'],
  ['Broadcast', 'broadcast'],
  ['Subscribe', 'subscribe'],
  ['Unsubscribe', 'unsubscribe'],
  ['Disconnect', 'disconnect'],
  ['Presence', 'presence'],
  ['PresenceStats', 'presence_stats'],
  ['History', 'history'],
  ['HistoryRemove', 'history_remove'],
  ['Info', 'info'],
  ['RPC', 'rpc'],
  ['Refresh', 'refresh'],
  ['Channels', 'channels'],
]);

/** Options the proto is loaded with: request objects as `grpc-decode.ts` expects them. */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: false,
};

/** Path of the API `.proto` (the file GRPC clients generate their stubs from). */
export function grpcApiProtoPath(): string {
  return protoPath(import.meta.url, './proto/api.proto');
}

let cachedPackage: protoLoader.PackageDefinition | undefined;

function apiPackage(): protoLoader.PackageDefinition {
  cachedPackage ??= protoLoader.loadSync(grpcApiProtoPath(), LOADER_OPTIONS);
  return cachedPackage;
}

/** The `CentrifugoApi` service definition loaded from `proto/api.proto`. */
export function grpcApiServiceDefinition(): grpc.ServiceDefinition {
  return apiPackage()[GRPC_API_SERVICE] as grpc.ServiceDefinition;
}

/** GRPC status of an API error in transport error mode (server-api.md §3.1). */
export function grpcStatusFor(code: number): grpc.status {
  switch (code) {
    case 102:
    case 104:
      return grpc.status.NOT_FOUND;
    case 107:
    case 108:
      return grpc.status.INVALID_ARGUMENT;
    case 112:
      return grpc.status.OUT_OF_RANGE;
    case 113:
      return grpc.status.ALREADY_EXISTS;
    default:
      return grpc.status.INTERNAL;
  }
}

function metaValue(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}

/** Checks `authorization: apikey <key>` (scheme case-insensitive, key compared in constant time). */
function keyMatches(md: grpc.Metadata, key: Buffer): boolean {
  const auth = metaValue(md, 'authorization');
  if (auth === undefined) return false;
  const parts = auth.trim().split(/\s+/);
  if (parts.length !== 2 || parts[0]?.toLowerCase() !== 'apikey') return false;
  const given = Buffer.from(parts[1] ?? '');
  return given.length === key.length && timingSafeEqual(given, key);
}

type UnaryHandler = grpc.handleUnaryCall<GrpcMessage, object>;

/**
 * Starts the GRPC server API (`grpc_api.*`, server-api.md §7) on `grpc_api.address`:`grpc_api.port`
 * (port 0 = a free port). Every served method decodes its request into the executor's request
 * object and runs it through `executor.execute`, the same path the HTTP API takes; responses are
 * `{error}` or `{result}` (Batch: the batch result itself). Payloads are raw bytes, never base64.
 *
 * Auth: with a non-empty `grpc_api.key` every call needs metadata `authorization: apikey <key>`,
 * else it fails with status UNAUTHENTICATED; an empty key means no auth. Transport error mode
 * (`grpc_api.error_mode: transport`, or metadata `x-centrifugo-error-mode: transport` per call)
 * turns an API error into a GRPC status (`grpcStatusFor`) with the error message; Batch is never
 * transformed. Methods Gyre does not serve (PRO, map, shared poll) answer error 104.
 * `grpc_api.reflection` adds the standard server reflection service (v1 and v1alpha);
 * `grpc_api.tls` serves TLS (mTLS with `client_ca_pem`); `max_receive_message_size` > 0 caps
 * request size (RESOURCE_EXHAUSTED beyond).
 *
 * `close()` refuses new calls, waits up to 5 s for running ones, then cancels the rest.
 * With `tracer` (`opentelemetry.api`) every call is traced, continuing the caller's `traceparent`.
 */
export async function startGrpcApi(
  executor: ApiExecutor,
  config: Config,
  logger: Logger,
  tracer?: ApiTracer,
): Promise<{ port: number; close(): Promise<void> }> {
  const c = config.grpc_api;
  const definition = grpcApiServiceDefinition();
  const key = Buffer.from(c.key);
  const globalTransport = c.error_mode === 'transport';

  const respond = (
    call: grpc.ServerUnaryCall<GrpcMessage, object>,
    callback: grpc.sendUnaryData<object>,
    error: ApiErrorObject | undefined,
    response: object,
  ): void => {
    if (
      error !== undefined &&
      (globalTransport || metaValue(call.metadata, 'x-centrifugo-error-mode') === 'transport')
    ) {
      callback({ code: grpcStatusFor(error.code), details: error.message });
      return;
    }
    callback(null, response);
  };

  const handlerFor = (grpcName: string): UnaryHandler => {
    const method = SERVED.get(grpcName);
    const decode = method === undefined ? undefined : grpcDecoders.get(method);
    return (call, done) => {
      let callback = done;
      if (tracer !== undefined) {
        const span = tracer.grpc(GRPC_API_SERVICE, grpcName, call.metadata);
        callback = (err, value) => {
          span.grpcStatus(err?.code ?? grpc.status.OK, err?.details);
          if (method !== undefined && err === null && value !== null && value !== undefined) {
            span.reply(value);
          }
          span.end();
          done(err, value);
        };
        if (method !== undefined) span.request(method, call.request);
      }
      if (key.length > 0 && !keyMatches(call.metadata, key)) {
        callback({ code: grpc.status.UNAUTHENTICATED, details: 'unauthenticated' });
        return;
      }
      if (method === undefined || decode === undefined) {
        const error = new ApiError(104).toObject();
        respond(call, callback, error, { error });
        return;
      }
      const request = decode(call.request);
      executor.execute(method, request, 'grpc').then(
        (rep) => {
          if (method === 'batch') callback(null, rep.result ?? { replies: [] });
          else
            respond(
              call,
              callback,
              rep.error,
              rep.error !== undefined ? { error: rep.error } : { result: rep.result ?? {} },
            );
        },
        (err: unknown) => {
          // `execute` never rejects; this is a safety net.
          logger.error({ err, method }, 'error executing GRPC API method');
          callback({ code: grpc.status.INTERNAL, details: 'internal server error' });
        },
      );
    };
  };

  const implementation: grpc.UntypedServiceImplementation = {};
  for (const name of Object.keys(definition)) implementation[name] = handlerFor(name);

  const server = new grpc.Server(grpcServerOptions(c.max_receive_message_size));
  server.addService(definition, implementation);
  if (c.reflection) new ReflectionService(apiPackage()).addToServer(server);
  const port = await bindGrpc(server, c.address, c.port, grpcCredentials(c.tls, 'grpc_api.tls'));
  logger.info({ address: c.address, port }, 'GRPC API listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () => (closing ??= shutdownGrpc(server, 5000)),
  };
}
