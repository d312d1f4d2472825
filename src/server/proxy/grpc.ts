import grpc from '@grpc/grpc-js';
import type { ProxyConfig } from '../config/index.js';
import { proxyServiceDefinition } from './proto.js';
import {
  ProxyCallError,
  forwardedHeaders,
  normalizeResult,
  readOutcome,
  type CallContext,
  type ProxyMethodName,
  type ProxyRequest,
  type ProxyResponse,
  type ProxyTransport,
} from './transport.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Plain = Record<string, unknown>;
type UnaryFn = (
  req: Plain,
  md: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Plain) => void,
) => grpc.ClientUnaryCall;

/** Message shape sent over GRPC: bytes stay bytes, `meta` becomes JSON bytes. */
export function toGrpcRequest(request: ProxyRequest): Plain {
  const { meta, ...rest } = request;
  const out: Plain = { ...rest };
  if (meta !== undefined) out['meta'] = encoder.encode(JSON.stringify(meta));
  return out;
}

function bytesOf(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array ? v : undefined;
}

function metaOf(v: unknown): Record<string, unknown> | undefined {
  if (!(v instanceof Uint8Array) || v.length === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(v));
  } catch (err) {
    throw new ProxyCallError('invalid meta JSON in proxy response', { cause: err });
  }
  return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
    ? (parsed as Record<string, unknown>)
    : undefined;
}

/** Decodes a GRPC proxy response message (already a plain object) into a {@link ProxyResponse}. */
export function fromGrpcResponse(body: Plain): ProxyResponse {
  const out = readOutcome(body);
  if (out.result) normalizeResult(out.result, bytesOf, metaOf);
  return out;
}

/** Strips the conventional `grpc://` scheme from an endpoint. */
export function grpcTarget(endpoint: string): string {
  return endpoint.startsWith('grpc://') ? endpoint.slice('grpc://'.length) : endpoint;
}

/** Channel credentials from `grpc.tls` (insecure when TLS is off). */
function channelCredentials(cfg: ProxyConfig): grpc.ChannelCredentials {
  const tls = cfg.grpc.tls;
  if (!tls.enabled) return grpc.credentials.createInsecure();
  const ca = tls.server_ca_pem !== '' ? Buffer.from(tls.server_ca_pem) : null;
  const key = tls.key_pem !== '' ? Buffer.from(tls.key_pem) : null;
  const cert = tls.cert_pem !== '' ? Buffer.from(tls.cert_pem) : null;
  const verify: grpc.VerifyOptions = {};
  if (tls.insecure_skip_verify) verify.checkServerIdentity = () => undefined;
  return grpc.credentials.createSsl(ca, key, cert, verify);
}

const ServiceClient = grpc.makeGenericClientConstructor(proxyServiceDefinition, 'CentrifugoProxy');

/**
 * GRPC proxy (proxy.md §1): unary calls to `centrifugal.centrifugo.proxy.CentrifugoProxy`, with a
 * deadline of the proxy `timeout`, forwarded headers as metadata (`grpc.static_metadata` first),
 * per-call credentials metadata and optional gzip.
 */
export class GrpcProxyTransport implements ProxyTransport {
  readonly kind = 'grpc' as const;
  readonly client: grpc.Client;

  constructor(private readonly cfg: ProxyConfig) {
    const options: grpc.ChannelOptions = {};
    if (cfg.grpc.compression) options['grpc.default_compression_algorithm'] = 2;
    if (cfg.grpc.tls.enabled && cfg.grpc.tls.server_name !== '') {
      options['grpc.ssl_target_name_override'] = cfg.grpc.tls.server_name;
    }
    this.client = new ServiceClient(grpcTarget(cfg.endpoint), channelCredentials(cfg), options);
  }

  /** Outgoing metadata for one call. */
  metadata(ctx: CallContext): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(forwardedHeaders(this.cfg, ctx, this.cfg.grpc.static_metadata))) {
      md.set(k, v);
    }
    if (this.cfg.grpc.credentials_key !== '')
      md.set(this.cfg.grpc.credentials_key, this.cfg.grpc.credentials_value);
    return md;
  }

  /** Deadline for a call started now. */
  deadline(): Date {
    return new Date(Date.now() + (this.cfg.timeout > 0 ? this.cfg.timeout : 1000));
  }

  call(method: ProxyMethodName, request: ProxyRequest, ctx: CallContext): Promise<ProxyResponse> {
    const fn = (this.client as unknown as Record<string, UnaryFn>)[method];
    if (!fn) return Promise.reject(new ProxyCallError(`unknown proxy method ${method}`));
    return new Promise((resolve, reject) => {
      fn.call(
        this.client,
        toGrpcRequest(request),
        this.metadata(ctx),
        { deadline: this.deadline() },
        (err, res) => {
          if (err) {
            reject(new ProxyCallError(`GRPC proxy call failed: ${err.code} ${err.details}`, { cause: err }));
            return;
          }
          try {
            resolve(fromGrpcResponse(res ?? {}));
          } catch (e) {
            reject(e instanceof Error ? e : new ProxyCallError(String(e)));
          }
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
