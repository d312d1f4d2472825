/**
 * OpenTelemetry tracing of `gyre serve` (`opentelemetry.*` keys, `OTEL_*` variables), checked
 * against an OTLP collector run by the test: an HTTP server receiving `POST /v1/traces` (OTLP/JSON
 * or OTLP/protobuf) and a GRPC server implementing the trace service. Spans are decoded and
 * asserted on: the caller's W3C `traceparent` is continued, names, attributes and statuses.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pg from 'pg';
import protobuf from 'protobufjs';
import { apiPost } from '../helpers/clients.js';
import { API_KEY, standardConfig, uniq } from '../helpers/e2e-config.js';
import { REPO_ROOT, freePort, startGyre, tempDir, type Cleanup } from '../helpers/gyre.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';
import { createOutboxTable, PG_DSN } from '../integration/postgres-helpers.js';

/** A received span, decoded from either OTLP encoding. */
interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP span kind: 2 SERVER, 5 CONSUMER. */
  kind: number;
  attrs: Record<string, unknown>;
  /** 0 UNSET, 1 OK, 2 ERROR. */
  status: { code: number; message: string };
  resource: Record<string, unknown>;
}

// The parts of the OTLP trace protocol the test reads (field numbers from the OTLP spec).
const OTLP_PROTO = `
syntax = "proto3";
package otlptest;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
  Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
`;
const ExportRequest = protobuf
  .parse(OTLP_PROTO, { keepCase: true })
  .root.lookupType('otlptest.ExportTraceServiceRequest');

type Json = Record<string, unknown>;

/** An OTLP AnyValue (JSON or protobufjs object form, either field spelling) as a plain value. */
function anyValue(v: Json | undefined): unknown {
  if (v === undefined || v === null) return undefined;
  const s = v['stringValue'] ?? v['string_value'];
  if (s !== undefined) return s;
  const b = v['boolValue'] ?? v['bool_value'];
  if (b !== undefined) return b;
  const i = v['intValue'] ?? v['int_value'];
  if (i !== undefined) return Number(i);
  const d = v['doubleValue'] ?? v['double_value'];
  if (d !== undefined) return Number(d);
  const a = (v['arrayValue'] ?? v['array_value']) as { values?: Json[] } | undefined;
  if (a !== undefined) return (a.values ?? []).map(anyValue);
  return undefined;
}

function attributes(list: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of (list as Json[] | undefined) ?? [])
    out[kv['key'] as string] = anyValue(kv['value'] as Json);
  return out;
}

const hex = (v: unknown): string =>
  v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'string' ? v : '';

/** Flattens an export request (OTLP/JSON camelCase or decoded protobuf snake_case) into spans. */
function spansOf(req: Json): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of ((req['resourceSpans'] ?? req['resource_spans']) as Json[] | undefined) ?? []) {
    const resource = attributes((rs['resource'] as Json | undefined)?.['attributes']);
    for (const ss of ((rs['scopeSpans'] ?? rs['scope_spans']) as Json[] | undefined) ?? []) {
      for (const s of (ss['spans'] as Json[] | undefined) ?? []) {
        const st = (s['status'] as Json | undefined) ?? {};
        out.push({
          traceId: hex(s['traceId'] ?? s['trace_id']),
          spanId: hex(s['spanId'] ?? s['span_id']),
          parentSpanId: hex(s['parentSpanId'] ?? s['parent_span_id']),
          name: s['name'] as string,
          kind: Number(s['kind'] ?? 0),
          attrs: attributes(s['attributes']),
          status: { code: Number(st['code'] ?? 0), message: (st['message'] as string | undefined) ?? '' },
          resource,
        });
      }
    }
  }
  return out;
}

/** The spans a collector received, and how they arrived. */
interface Collector {
  /** `http://127.0.0.1:<port>`, for the HTTP and the GRPC collector alike. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Content types of the received export requests (GRPC: `grpc`). */
  contentTypes: Set<string>;
  waitSpan(pred: (s: ReceivedSpan) => boolean, what: string): Promise<ReceivedSpan>;
}

function collectorState(): Collector {
  const c: Collector = {
    endpoint: '',
    spans: [],
    contentTypes: new Set(),
    waitSpan: (pred, what) => waitFor(() => c.spans.find(pred), 15_000, `span ${what}`),
  };
  return c;
}

/** OTLP/HTTP collector: `POST /v1/traces`, JSON or protobuf bodies. */
async function httpCollector(t: Cleanup): Promise<Collector> {
  const c = collectorState();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = req.headers['content-type'] ?? '';
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      c.contentTypes.add(type);
      if (type.startsWith('application/json')) {
        c.spans.push(...spansOf(JSON.parse(body.toString('utf8')) as Json));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      } else {
        const msg = ExportRequest.toObject(ExportRequest.decode(body), { longs: Number, bytes: Buffer });
        c.spans.push(...spansOf(msg));
        res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  c.endpoint = `http://127.0.0.1:${port}`;
  return c;
}

/** OTLP/GRPC collector: the trace service's `Export`, bodies decoded as protobuf. */
async function grpcCollector(t: Cleanup): Promise<Collector> {
  const server = new grpc.Server();
  const c = collectorState();
  const raw = (b: Buffer): Buffer => b;
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: () => Buffer.alloc(0),
        responseDeserialize: raw,
      },
    },
    {
      Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        c.contentTypes.add('grpc');
        const msg = ExportRequest.toObject(ExportRequest.decode(call.request), {
          longs: Number,
          bytes: Buffer,
        });
        c.spans.push(...spansOf(msg));
        cb(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err !== null ? reject(err) : resolve(p),
    ),
  );
  t.after(() => new Promise<void>((r) => server.tryShutdown(() => r())));
  c.endpoint = `http://127.0.0.1:${port}`;
  return c;
}

/** A fresh W3C trace context a caller would send. */
function callerContext(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** Exporter settings pointing at `c`; no `protocol` = the default (http/protobuf). */
function otelEnv(c: Collector, protocol?: string): Record<string, string> {
  const env: Record<string, string> = {
    OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
  if (protocol !== undefined) env['OTEL_EXPORTER_OTLP_PROTOCOL'] = protocol;
  return env;
}

type GrpcUnary = (req: object, md: grpc.Metadata, cb: (err: Error | null, res: Json) => void) => void;

/** Calls one unary method of the GRPC server API. */
function grpcCall(client: grpc.Client, method: string, req: object, md: grpc.Metadata): Promise<Json> {
  const fn = (client as unknown as Record<string, GrpcUnary>)[method] as GrpcUnary;
  return new Promise((resolve, reject) => fn.call(client, req, md, (e, r) => (e ? reject(e) : resolve(r))));
}

const pgSkip = await serviceSkip('PostgreSQL', 5432);
if (pgSkip) console.log(`# skipping the consumer tracing test: ${pgSkip}`);

void describe('OpenTelemetry tracing under gyre serve', () => {
  test('HTTP and GRPC API spans continue the caller trace (OTLP/JSON)', async (t) => {
    const collector = await httpCollector(t);
    const grpcPort = await freePort();
    const server = await startGyre(t, {
      config: standardConfig({
        opentelemetry: { enabled: true, api: true },
        grpc_api: { enabled: true, port: grpcPort, key: 'grpc-key' },
      }),
      env: otelEnv(collector, 'http/json'),
    });
    const channel = uniq('otel');
    const caller = callerContext();
    const ok = await apiPost(
      `${server.apiUrl}/publish`,
      { channel, data: { n: 1 } },
      { 'X-API-Key': API_KEY, traceparent: caller.traceparent },
    );
    assert.equal(ok.status, 200);
    const span = await collector.waitSpan((s) => s.traceId === caller.traceId, 'of the publish request');
    assert.equal(span.parentSpanId, caller.spanId, 'a child of the caller span');
    assert.equal(span.name, 'POST /api/publish');
    assert.equal(span.kind, 2, 'SERVER');
    assert.equal(span.attrs['centrifugo.method'], 'publish');
    assert.equal(span.attrs['centrifugo.channel'], channel);
    assert.equal(span.attrs['http.request.method'], 'POST');
    assert.equal(span.attrs['http.response.status_code'], 200);
    assert.equal(span.status.code, 0, 'UNSET on success');
    assert.equal(span.resource['service.name'], 'centrifugo');
    assert.equal(span.resource['service.version'], '0.1.0');
    assert.match(String(span.resource['service.instance.id']), /^[0-9a-f-]{36}$/);
    assert.deepEqual([...collector.contentTypes], ['application/json']);

    // An API error reply fails the span with the code and message.
    const bad = callerContext();
    const rep = await apiPost(
      `${server.apiUrl}/publish`,
      { channel: 'nosuchns:x', data: {} },
      { 'X-API-Key': API_KEY, traceparent: bad.traceparent },
    );
    assert.deepEqual(rep.json, { error: { code: 102, message: 'unknown channel' } });
    const failed = await collector.waitSpan((s) => s.traceId === bad.traceId, 'of the failed publish');
    assert.equal(failed.status.code, 2, 'ERROR');
    assert.equal(failed.status.message, '102: unknown channel');
    assert.equal(failed.attrs['centrifugo.error_code'], 102);

    // A request without traceparent starts a trace of its own; broadcast counts its channels.
    await apiPost(
      `${server.apiUrl}/broadcast`,
      { channels: [channel, `${channel}b`], data: {} },
      { 'X-API-Key': API_KEY },
    );
    const bc = await collector.waitSpan((s) => s.name === 'POST /api/broadcast', 'of the broadcast');
    assert.equal(bc.parentSpanId, '');
    assert.equal(bc.attrs['centrifugo.num_channels'], 2);

    // The legacy endpoint: several commands in one request, one span naming them all.
    const legacy = callerContext();
    const body = [
      JSON.stringify({ method: 'publish', params: { channel, data: {} } }),
      JSON.stringify({ method: 'info', params: {} }),
    ].join('\n');
    const lr = await apiPost(server.apiUrl, body, { 'X-API-Key': API_KEY, traceparent: legacy.traceparent });
    assert.equal(lr.status, 200);
    const ls = await collector.waitSpan((s) => s.traceId === legacy.traceId, 'of the legacy request');
    assert.equal(ls.name, 'POST /api');
    assert.deepEqual(ls.attrs['centrifugo.methods'], ['publish', 'info']);

    // GRPC API: traceparent in the call metadata.
    const pkg = grpc.loadPackageDefinition(
      protoLoader.loadSync(join(REPO_ROOT, 'src/server/api/proto/api.proto'), {
        keepCase: true,
        longs: Number,
      }),
    ) as unknown as {
      centrifugal: {
        centrifugo: { api: { CentrifugoApi: new (a: string, c: grpc.ChannelCredentials) => grpc.Client } };
      };
    };
    const client = new pkg.centrifugal.centrifugo.api.CentrifugoApi(
      `127.0.0.1:${grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    t.after(() => client.close());
    const gctx = callerContext();
    const md = new grpc.Metadata();
    md.set('authorization', 'apikey grpc-key');
    md.set('traceparent', gctx.traceparent);
    const grpcReply = await grpcCall(client, 'Publish', { channel, data: Buffer.from('{}') }, md);
    assert.ok(grpcReply['result'] !== undefined, JSON.stringify(grpcReply));
    const gs = await collector.waitSpan((s) => s.traceId === gctx.traceId, 'of the GRPC publish');
    assert.equal(gs.parentSpanId, gctx.spanId);
    assert.equal(gs.name, 'centrifugal.centrifugo.api.CentrifugoApi/Publish');
    assert.equal(gs.kind, 2);
    assert.equal(gs.attrs['rpc.system'], 'grpc');
    assert.equal(gs.attrs['rpc.grpc.status_code'], 0);
    assert.equal(gs.attrs['centrifugo.channel'], channel);
    assert.equal(gs.status.code, 0);
    await server.stop();
  });

  test('GRPC exporter (OTEL_EXPORTER_OTLP_PROTOCOL=grpc), spans flushed at shutdown; google_cloud_adc_auth accepted with a warning', async (t) => {
    const collector = await grpcCollector(t);
    const server = await startGyre(t, {
      config: standardConfig({ opentelemetry: { enabled: true, api: true, google_cloud_adc_auth: true } }),
      env: {
        ...otelEnv(collector, 'grpc'),
        OTEL_SERVICE_NAME: 'realtime-edge',
        // Nothing is exported on a timer during the test: only the shutdown flush sends the span.
        OTEL_BSP_SCHEDULE_DELAY: '600000',
      },
    });
    assert.match(server.output(), /google_cloud_adc_auth is not supported by Gyre/);
    const caller = callerContext();
    const rep = await apiPost(
      `${server.apiUrl}/info`,
      {},
      { 'X-API-Key': API_KEY, traceparent: caller.traceparent },
    );
    assert.equal(rep.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(collector.spans.length, 0, 'still buffered');
    const exit = await server.stop();
    assert.equal(exit.code, 0);
    const span = await collector.waitSpan((s) => s.traceId === caller.traceId, 'of the info request');
    assert.equal(span.name, 'POST /api/info');
    assert.equal(span.attrs['centrifugo.method'], 'info');
    assert.equal(span.resource['service.name'], 'realtime-edge', 'OTEL_SERVICE_NAME wins');
    assert.deepEqual([...collector.contentTypes], ['grpc']);
  });

  test(
    'consumer spans from the PostgreSQL outbox (default OTLP/protobuf); api: false exports no API span',
    { skip: pgSkip },
    async (t) => {
      const collector = await httpCollector(t);
      const table = `gyre_e2e_otel_${randomBytes(4).toString('hex')}`;
      const db = new pg.Client({ connectionString: PG_DSN });
      await db.connect();
      await createOutboxTable(db, table);
      t.after(async () => {
        await db.query(`DROP TABLE IF EXISTS ${table}`);
        await db.end();
      });
      const env = otelEnv(collector);
      const server = await startGyre(t, {
        config: standardConfig({
          opentelemetry: { enabled: true, api: false, consuming: true },
          consumers: [
            {
              name: 'outbox',
              enabled: true,
              type: 'postgresql',
              postgresql: { dsn: PG_DSN, outbox_table_name: table, partition_poll_interval: '100ms' },
            },
          ],
        }),
        env,
      });
      const channel = uniq('otelc');
      await apiPost(`${server.apiUrl}/publish`, { channel, data: { via: 'api' } }, { 'X-API-Key': API_KEY });
      await db.query(`INSERT INTO ${table} (method, payload) VALUES ($1, $2)`, [
        'publish',
        JSON.stringify({ channel, data: { via: 'outbox' } }),
      ]);
      const span = await collector.waitSpan((s) => s.name === 'process outbox', 'of the outbox message');
      assert.equal(span.kind, 5, 'CONSUMER');
      assert.equal(span.attrs['centrifugo.method'], 'publish');
      assert.equal(span.attrs['centrifugo.channel'], channel);
      assert.equal(span.attrs['centrifugo.consumer.type'], 'postgresql');
      assert.equal(span.attrs['messaging.operation.type'], 'process');
      assert.equal(span.status.code, 0);
      assert.deepEqual([...collector.contentTypes], ['application/x-protobuf'], 'http/protobuf by default');

      // A message the API rejects is skipped: its span says so.
      await db.query(`INSERT INTO ${table} (method, payload) VALUES ($1, $2)`, [
        'publish',
        JSON.stringify({ channel: 'nosuchns:x', data: {} }),
      ]);
      const skipped = await collector.waitSpan(
        (s) => s.name === 'process outbox' && s.status.code === 2,
        'of the skipped message',
      );
      assert.equal(skipped.status.message, '102: unknown channel');
      assert.equal(skipped.attrs['centrifugo.error_code'], 102);

      // Shutting down exports what is buffered: still no span of the API request.
      await server.stop();
      assert.deepEqual(
        collector.spans.filter((s) => s.kind !== 5).map((s) => s.name),
        [],
        'opentelemetry.api is off',
      );
      assert.equal(collector.spans.length, 2);
    },
  );

  test('OTEL_* variables in ./.env configure the exporter; the process environment wins', async (t) => {
    const collector = await httpCollector(t);
    const cwd = tempDir(t);
    const dotenv = { ...otelEnv(collector, 'http/json'), OTEL_SERVICE_NAME: 'from-dotenv' };
    writeFileSync(
      join(cwd, '.env'),
      Object.entries(dotenv)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n'),
    );
    const server = await startGyre(t, {
      config: standardConfig({ opentelemetry: { enabled: true, api: true } }),
      cwd,
      env: { OTEL_SERVICE_NAME: 'from-environment' },
    });
    const ok = await apiPost(
      `${server.apiUrl}/publish`,
      { channel: uniq('dotenv'), data: {} },
      {
        'X-API-Key': API_KEY,
      },
    );
    assert.equal(ok.status, 200);
    const span = await collector.waitSpan((s) => s.name === 'POST /api/publish', 'of the publish request');
    assert.equal(span.resource['service.name'], 'from-environment');

    // A bad value there stops start-up as one in the environment does.
    writeFileSync(join(cwd, '.env'), 'OTEL_EXPORTER_OTLP_PROTOCOL=zipkin\n');
    await assert.rejects(
      startGyre(t, { config: standardConfig({ opentelemetry: { enabled: true, api: true } }), cwd }),
      /OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol "zipkin"/,
    );
  });

  test('a bad OTEL_EXPORTER_OTLP_PROTOCOL fails start-up naming the variable', async (t) => {
    await assert.rejects(
      startGyre(t, {
        config: standardConfig({ opentelemetry: { enabled: true, api: true } }),
        env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'zipkin' },
      }),
      /OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol "zipkin" \(supported: http\/protobuf, http\/json, grpc\)/,
    );
  });
});
