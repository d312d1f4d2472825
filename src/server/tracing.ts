/**
 * OpenTelemetry tracing (`opentelemetry.*`): one span per server API request (HTTP and GRPC, with
 * `opentelemetry.api`) and one per message an asynchronous consumer processes (with
 * `opentelemetry.consuming`), exported over OTLP as the standard `OTEL_*` environment variables
 * say (endpoint, headers, protocol, sampler, batch settings, resource attributes).
 *
 * The OpenTelemetry packages are loaded with dynamic `import()` only when `opentelemetry.enabled` is
 * on: this module's static imports are types only, so a server without tracing loads none of them,
 * and the adapters it feeds check one optional field per request.
 *
 * Span shape (Gyre's; Centrifugo documents only that API requests are traced):
 * - HTTP API: `POST /api/publish`, kind SERVER, `http.request.method`, `url.path`, `http.route`,
 *   `http.response.status_code`, `user_agent.original`, `client.address`.
 * - GRPC API: `centrifugal.centrifugo.api.CentrifugoApi/Publish`, kind SERVER, `rpc.system`,
 *   `rpc.service`, `rpc.method`, `rpc.grpc.status_code`.
 * - Consumers: `process <consumer name>`, kind CONSUMER, `messaging.system` (the consumer type),
 *   `messaging.operation.type` = `process`, `centrifugo.consumer.name`, `centrifugo.consumer.type`.
 * - All: `centrifugo.method` (the API method), `centrifugo.channel` (methods with one channel),
 *   `centrifugo.num_channels` (broadcast). An API error reply sets status ERROR with message
 *   `<code>: <message>` and `centrifugo.error_code`; so do HTTP 5xx answers, undecodable requests,
 *   GRPC error statuses other than UNAUTHENTICATED, and consumed messages that are skipped or retried
 *   (`centrifugo.retry` = true for the latter).
 *
 * The incoming W3C trace context (`traceparent` / `tracestate` HTTP headers or GRPC metadata) is
 * continued: the API span is a child of the caller's span, in the caller's trace.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Attributes, Context, Span, SpanStatusCode, TextMapGetter, Tracer } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from '../core/logger.js';
import type { Config } from './config/index.js';

/** Attribute value a span accepts. */
export type SpanValue = string | number | boolean | string[];

/** One span of an API call or a consumed message. Every method is cheap and never throws. */
export interface ApiSpan {
  /** The decoded request of an API method: records the method and its channel(s). */
  request(method: string, request: unknown): void;
  /** The API answer: an error reply fails the span. */
  reply(reply: { error?: { code: number; message: string } }): void;
  /** Marks the span failed (status ERROR); the first message wins. */
  fail(message: string, errorCode?: number): void;
  /** Sets one attribute. */
  set(key: string, value: SpanValue): void;
  /** GRPC only: the status the call ends with (`rpc.grpc.status_code`; codes other than OK and UNAUTHENTICATED fail). */
  grpcStatus(code: number, details?: string): void;
  /** Ends the span (later calls do nothing). */
  end(): void;
}

/** Starts server API spans (`opentelemetry.api`). */
export interface ApiTracer {
  /** The span of one HTTP API request; it ends by itself when `res` closes. */
  http(req: IncomingMessage, res: ServerResponse): ApiSpan;
  /** The span of one GRPC API call (`service`/`method` as GRPC names them). */
  grpc(service: string, method: string, metadata: GrpcMetadataLike): ApiSpan;
}

/** Starts the spans of one consumer's messages (`opentelemetry.consuming`). */
export interface ConsumerSpans {
  start(): ApiSpan;
}

/** Binds consumer spans to a consumer. */
export interface ConsumerTracer {
  consumer(name: string, type: string): ConsumerSpans;
}

/** What `@grpc/grpc-js`'s `Metadata` offers (kept structural so this module needs no grpc import). */
export interface GrpcMetadataLike {
  get(key: string): (string | Buffer)[];
  getMap(): Record<string, unknown>;
}

/** Running tracing. */
export interface Tracing {
  /** Set when `opentelemetry.api` is on. */
  readonly api?: ApiTracer;
  /** Set when `opentelemetry.consuming` is on. */
  readonly consuming?: ConsumerTracer;
  /** Names this node (`service.instance.id` of every exported span) once its id is known. */
  setInstanceId(id: string): void;
  /** Exports the spans still buffered and stops. Idempotent. */
  shutdown(): Promise<void>;
}

/** A bad `OTEL_*` setting; the message names the variable. */
export class TracingConfigError extends Error {}

/** OTLP protocols Gyre exports with. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** What the environment asks of the exporter (read by {@link exporterSettings}). */
export interface ExporterSettings {
  /** `none`: tracing is configured off by the environment. */
  exporter: 'otlp' | 'console' | 'none';
  protocol: OtlpProtocol;
  /** Why tracing is off (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER=none`). */
  off?: string;
}

const nonEmpty = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

/**
 * Reads and checks the exporter's `OTEL_*` variables: `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`
 * (`otlp` default, `console`, `none`), `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` /
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf` default, `http/json`, `grpc`), and for the HTTP
 * protocols that `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` are http(s)
 * URLs. Throws {@link TracingConfigError} naming the variable. Pure.
 */
export function exporterSettings(env: NodeJS.ProcessEnv = process.env): ExporterSettings {
  const protoVar = nonEmpty(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL')
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = (nonEmpty(env, protoVar) ?? 'http/protobuf').toLowerCase();
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new TracingConfigError(
      `${protoVar}: unsupported protocol ${JSON.stringify(protocol)} (supported: ${OTLP_PROTOCOLS.join(', ')})`,
    );
  }
  const exporters = (nonEmpty(env, 'OTEL_TRACES_EXPORTER') ?? 'otlp')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  for (const e of exporters) {
    if (e !== 'otlp' && e !== 'console' && e !== 'none') {
      throw new TracingConfigError(
        `OTEL_TRACES_EXPORTER: unsupported exporter ${JSON.stringify(e)} (supported: otlp, console, none)`,
      );
    }
  }
  if (protocol !== 'grpc') {
    for (const name of ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      const url = nonEmpty(env, name);
      if (url === undefined) continue;
      let ok: boolean;
      try {
        const u = new URL(url);
        ok = u.protocol === 'http:' || u.protocol === 'https:';
      } catch {
        ok = false;
      }
      if (!ok) throw new TracingConfigError(`${name}: ${JSON.stringify(url)} is not an http(s) URL`);
    }
  }
  const settings: ExporterSettings = {
    exporter: exporters.includes('otlp') ? 'otlp' : exporters.includes('console') ? 'console' : 'none',
    protocol: protocol as OtlpProtocol,
  };
  if (nonEmpty(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') settings.off = 'OTEL_SDK_DISABLED=true';
  else if (settings.exporter === 'none') settings.off = 'OTEL_TRACES_EXPORTER=none';
  return settings;
}

/** Options of {@link startTracing}. */
export interface TracingOptions {
  /** `service.version`. */
  version: string;
  /** Environment read for `OTEL_*`; default `process.env` (the exporters always read `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Replaces the exporter chosen from the environment (tests and embedding). */
  exporter?: SpanExporter;
}

/**
 * Starts tracing for `config.opentelemetry`, or resolves undefined when it is off (`enabled`
 * false, neither `api` nor `consuming`, or switched off by the environment). Throws
 * {@link TracingConfigError} for bad `OTEL_*` settings. Loads the OpenTelemetry packages.
 */
export async function startTracing(
  config: Config,
  logger: Logger,
  options: TracingOptions,
): Promise<Tracing | undefined> {
  const o = config.opentelemetry;
  if (!o.enabled) return undefined;
  const env = options.env ?? process.env;
  const settings = exporterSettings(env);
  if (o.google_cloud_adc_auth) {
    logger.warn(
      {},
      'opentelemetry.google_cloud_adc_auth is not supported by Gyre: spans are exported without Google Cloud credentials (set OTEL_EXPORTER_OTLP_HEADERS or export through a collector)',
    );
  }
  if (!o.api && !o.consuming) {
    logger.warn(
      {},
      'opentelemetry.enabled is on but neither opentelemetry.api nor opentelemetry.consuming is: nothing is traced',
    );
    return undefined;
  }
  if (settings.off !== undefined) {
    logger.info({ reason: settings.off }, 'OpenTelemetry tracing switched off by the environment');
    return undefined;
  }

  const [api, core, sdk, resources, semconv] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/core'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);

  // Export failures reach the SDK's diagnostics channel: log them (warnings and errors only).
  api.diag.setLogger(
    {
      error: (msg: string, ...args: unknown[]) => logger.error(diagContext(msg, args), 'OpenTelemetry error'),
      warn: (msg: string, ...args: unknown[]) => logger.warn(diagContext(msg, args), 'OpenTelemetry warning'),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    { logLevel: api.DiagLogLevel.WARN, suppressOverrideMessage: true },
  );

  let exporter: SpanExporter;
  if (options.exporter !== undefined) exporter = options.exporter;
  else if (settings.exporter === 'console') exporter = new sdk.ConsoleSpanExporter();
  else if (settings.protocol === 'grpc') {
    exporter = new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  } else if (settings.protocol === 'http/json') {
    exporter = new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  } else {
    exporter = new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
  }

  // service.instance.id is the node's id, known once the node is built: an async attribute the
  // exporter waits for (spans only start after the node runs).
  let setInstanceId: (id: string) => void = () => undefined;
  const instanceId = new Promise<string>((resolve) => (setInstanceId = resolve));
  const resource = resources
    .defaultResource()
    .merge(
      resources.resourceFromAttributes({
        [semconv.ATTR_SERVICE_NAME]: 'centrifugo',
        [semconv.ATTR_SERVICE_VERSION]: options.version,
        'service.instance.id': instanceId,
      }),
    )
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));

  const provider = new sdk.BasicTracerProvider({
    resource,
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('gyre', options.version);
  const propagator = new core.W3CTraceContextPropagator();
  const kinds = { server: api.SpanKind.SERVER, consumer: api.SpanKind.CONSUMER };
  const ctx: SpanContextTools = {
    tracer,
    propagator,
    root: api.ROOT_CONTEXT,
    errorStatus: api.SpanStatusCode.ERROR,
  };

  const apiTracer: ApiTracer | undefined = o.api
    ? {
        http(req, res) {
          const q = (req.url ?? '/').indexOf('?');
          const path = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
          const method = req.method ?? 'GET';
          const attributes: Attributes = {
            [semconv.ATTR_HTTP_REQUEST_METHOD]: method,
            [semconv.ATTR_URL_PATH]: path,
            [semconv.ATTR_HTTP_ROUTE]: path,
          };
          const ua = req.headers['user-agent'];
          if (ua !== undefined) attributes[semconv.ATTR_USER_AGENT_ORIGINAL] = ua;
          const peer = req.socket.remoteAddress;
          if (peer !== undefined) attributes[semconv.ATTR_CLIENT_ADDRESS] = peer;
          const parent = ctx.propagator.extract(ctx.root, req.headers, headerGetter);
          const span = new SpanHandle(
            ctx.tracer.startSpan(`${method} ${path}`, { kind: kinds.server, attributes }, parent),
            ctx.errorStatus,
          );
          res.once('close', () => {
            const status = res.statusCode;
            span.set(semconv.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
            if (status >= 500) span.fail(`HTTP ${status}`);
            else if (!res.writableFinished) span.fail('response not completed');
            span.end();
          });
          return span;
        },
        grpc(service, method, metadata) {
          const parent = ctx.propagator.extract(ctx.root, metadata, metadataGetter);
          return new SpanHandle(
            ctx.tracer.startSpan(
              `${service}/${method}`,
              {
                kind: kinds.server,
                attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method },
              },
              parent,
            ),
            ctx.errorStatus,
          );
        },
      }
    : undefined;

  const consumerTracer: ConsumerTracer | undefined = o.consuming
    ? {
        consumer(name, type) {
          const attributes: Attributes = {
            'messaging.system': type,
            'messaging.operation.type': 'process',
            'centrifugo.consumer.name': name,
            'centrifugo.consumer.type': type,
          };
          const spanName = `process ${name}`;
          return {
            start: () =>
              new SpanHandle(
                ctx.tracer.startSpan(spanName, { kind: kinds.consumer, attributes }, ctx.root),
                ctx.errorStatus,
              ),
          };
        },
      }
    : undefined;

  logger.info(
    {
      protocol:
        options.exporter !== undefined
          ? 'custom'
          : settings.exporter === 'console'
            ? 'console'
            : settings.protocol,
      api: o.api,
      consuming: o.consuming,
    },
    'OpenTelemetry tracing enabled',
  );

  let stopping: Promise<void> | undefined;
  const tracing: Tracing = {
    setInstanceId: (id) => setInstanceId(id),
    shutdown: () =>
      (stopping ??= provider.shutdown().catch((err: unknown) => {
        logger.warn(
          { error: err instanceof Error ? err.message : String(err) },
          'error flushing OpenTelemetry spans',
        );
      })),
  };
  return Object.assign(
    tracing,
    apiTracer !== undefined ? { api: apiTracer } : {},
    consumerTracer !== undefined ? { consuming: consumerTracer } : {},
  );
}

interface SpanContextTools {
  tracer: Tracer;
  propagator: W3CTraceContextPropagator;
  root: Context;
  errorStatus: SpanStatusCode;
}

/** Reads W3C trace context from Node's (lower-cased) request headers. */
const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};

/** Reads W3C trace context from GRPC metadata. */
const metadataGetter: TextMapGetter<GrpcMetadataLike> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key.toLowerCase());
    if (values.length === 0) return undefined;
    return values.map((v) => (typeof v === 'string' ? v : v.toString('utf8')));
  },
};

/** GRPC status UNAUTHENTICATED: recorded, but a refused caller is not a failure of the server. */
const GRPC_UNAUTHENTICATED = 16;

class SpanHandle implements ApiSpan {
  private failed = false;
  private ended = false;
  private methods: string[] | undefined;

  constructor(
    private readonly span: Span,
    private readonly errorStatus: SpanStatusCode,
  ) {}

  request(method: string, request: unknown): void {
    (this.methods ??= []).push(method);
    if (request === null || typeof request !== 'object') return;
    const r = request as { channel?: unknown; channels?: unknown };
    if (typeof r.channel === 'string' && r.channel !== '')
      this.span.setAttribute('centrifugo.channel', r.channel);
    if (Array.isArray(r.channels)) this.span.setAttribute('centrifugo.num_channels', r.channels.length);
  }

  reply(reply: { error?: { code: number; message: string } }): void {
    if (reply.error !== undefined) this.fail(`${reply.error.code}: ${reply.error.message}`, reply.error.code);
  }

  fail(message: string, errorCode?: number): void {
    if (this.failed || this.ended) return;
    this.failed = true;
    this.span.setStatus({ code: this.errorStatus, message });
    if (errorCode !== undefined) this.span.setAttribute('centrifugo.error_code', errorCode);
  }

  set(key: string, value: SpanValue): void {
    if (!this.ended) this.span.setAttribute(key, value);
  }

  grpcStatus(code: number, details?: string): void {
    this.set('rpc.grpc.status_code', code);
    // Any other non-OK status is an API error (transport error mode) or a server failure.
    if (code !== 0 && code !== GRPC_UNAUTHENTICATED) this.fail(details ?? `GRPC status ${code}`);
  }

  end(): void {
    if (this.ended) return;
    const m = this.methods;
    if (m !== undefined) {
      const distinct = [...new Set(m)];
      if (distinct.length === 1) this.span.setAttribute('centrifugo.method', distinct[0] as string);
      else this.span.setAttribute('centrifugo.methods', m);
    }
    this.ended = true;
    this.span.end();
  }
}

/**
 * Log context of a diagnostics message: export failures arrive as a JSON-serialised exception,
 * which becomes its `message` (the stack is dropped); extra arguments are appended.
 */
function diagContext(msg: string, args: unknown[]): { error: string } {
  let text = msg;
  if (msg.startsWith('{')) {
    try {
      const parsed = JSON.parse(msg) as { message?: unknown };
      if (typeof parsed.message === 'string') text = parsed.message;
    } catch {
      // not JSON: keep the text
    }
  }
  const extra = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : safeJson(a)));
  return { error: [text, ...extra].join(' ') };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
