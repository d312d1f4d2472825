import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { noopLogger } from '../core/logger.js';
import { defaultConfig } from './config/index.js';
import { ConsumerDispatcher, RetryableError, type ConsumerApi } from './consumers/dispatch.js';
import { exporterSettings, startTracing, TracingConfigError } from './tracing.js';

const loaded = (name: string): boolean =>
  Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes(`/@opentelemetry/${name}/`));

void test('the OpenTelemetry SDK and exporters are not loaded while tracing is off', async () => {
  const config = defaultConfig();
  assert.equal(await startTracing(config, noopLogger, { version: 't' }), undefined);
  config.opentelemetry.enabled = true; // but neither api nor consuming
  assert.equal(await startTracing(config, noopLogger, { version: 't' }), undefined);
  assert.equal(loaded('sdk-trace-base'), false);
  assert.equal(loaded('exporter-trace-otlp-proto'), false);
  assert.equal(loaded('exporter-trace-otlp-http'), false);
  config.opentelemetry.api = true;
  const tracing = await startTracing(config, noopLogger, { version: 't', env: {} });
  assert.ok(tracing?.api !== undefined);
  assert.equal(tracing.consuming, undefined);
  assert.equal(loaded('sdk-trace-base'), true);
  assert.equal(loaded('exporter-trace-otlp-proto'), true, 'http/protobuf is the default protocol');
  await tracing.shutdown();
});

void test('exporter settings come from OTEL_* variables; bad values name the variable', () => {
  assert.deepEqual(exporterSettings({}), { exporter: 'otlp', protocol: 'http/protobuf' });
  assert.equal(exporterSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).protocol, 'grpc');
  assert.equal(
    exporterSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })
      .protocol,
    'http/json',
    'the traces-specific variable wins',
  );
  assert.equal(exporterSettings({ OTEL_SDK_DISABLED: 'true' }).off, 'OTEL_SDK_DISABLED=true');
  assert.equal(exporterSettings({ OTEL_TRACES_EXPORTER: 'none' }).off, 'OTEL_TRACES_EXPORTER=none');
  assert.equal(exporterSettings({ OTEL_TRACES_EXPORTER: 'console' }).exporter, 'console');
  assert.throws(
    () => exporterSettings({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' }),
    (e: unknown) =>
      e instanceof TracingConfigError && /^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: unsupported/.test(e.message),
  );
  assert.throws(
    () => exporterSettings({ OTEL_TRACES_EXPORTER: 'jaeger' }),
    /OTEL_TRACES_EXPORTER: unsupported exporter "jaeger"/,
  );
  assert.throws(
    () => exporterSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' }),
    /OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318" is not an http\(s\) URL/,
  );
  // GRPC endpoints may be host:port.
  assert.equal(
    exporterSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4317' })
      .protocol,
    'grpc',
  );
});

void test('consumer spans: one per message, failed when skipped or retried', async () => {
  const config = defaultConfig();
  config.opentelemetry = { enabled: true, api: false, consuming: true, google_cloud_adc_auth: false };
  const spans: ReadableSpan[] = [];
  const exporter: SpanExporter = {
    export: (batch, done) => {
      spans.push(...batch);
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const tracing = await startTracing(config, noopLogger, { version: 't', env: {}, exporter });
  assert.ok(tracing?.consuming !== undefined);
  assert.equal(tracing.api, undefined);
  tracing.setInstanceId('node-1');
  let answer: { error?: { code: number; message: string }; result?: object } = { result: {} };
  const api: ConsumerApi = { execute: () => Promise.resolve(answer) };
  const d = new ConsumerDispatcher(
    api,
    noopLogger,
    'jobs',
    tracing.consuming.consumer('jobs', 'redis_stream'),
  );

  await d.dispatchCommand('publish', '{"channel":"news","data":{}}');
  answer = { error: { code: 100, message: 'internal server error' } };
  await assert.rejects(d.dispatchCommand('publish', '{"channel":"news","data":{}}'), RetryableError);
  await d.dispatchCommand('', '{"method":"history","payload":{}}');
  answer = { result: { responses: [{ result: {} }, { result: {} }] } };
  await d.dispatchPublication('x', {
    channels: ['a', 'b'],
    idempotencyKey: '',
    delta: false,
    version: 0,
    versionEpoch: '',
  });
  await tracing.shutdown();

  assert.equal(spans.length, 4);
  for (const s of spans) {
    assert.equal(s.name, 'process jobs');
    assert.equal(s.kind, 4, 'CONSUMER');
    assert.equal(s.attributes['centrifugo.consumer.type'], 'redis_stream');
    assert.equal(s.resource.attributes['service.instance.id'], 'node-1');
  }
  const [ok, retried, skipped, published] = spans;
  assert.equal(ok?.status.code, 0);
  assert.equal(ok?.attributes['centrifugo.method'], 'publish');
  assert.equal(ok?.attributes['centrifugo.channel'], 'news');
  assert.equal(retried?.status.code, 2);
  assert.equal(retried?.status.message, '100: internal server error');
  assert.equal(retried?.attributes['centrifugo.retry'], true);
  assert.equal(skipped?.status.code, 2);
  assert.equal(skipped?.status.message, 'skipped: unsupported method');
  assert.equal(skipped?.attributes['centrifugo.method'], 'history');
  assert.equal(published?.attributes['centrifugo.method'], 'broadcast');
  assert.equal(published?.attributes['centrifugo.num_channels'], 2);
});

void test('export failures are logged with their message', async () => {
  const config = defaultConfig();
  config.opentelemetry = { enabled: true, api: false, consuming: true, google_cloud_adc_auth: true };
  const logs: { level: string; ctx: object; msg: string | undefined }[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (ctx: object, msg?: string) => logs.push({ level: 'warn', ctx, msg }),
    error: (ctx: object, msg?: string) => logs.push({ level: 'error', ctx, msg }),
  };
  const exporter: SpanExporter = {
    export: (_batch, done) => done({ code: 1, error: new Error('collector down') }),
    shutdown: () => Promise.resolve(),
  };
  // The batch processor reads its delay from the process environment.
  process.env['OTEL_BSP_SCHEDULE_DELAY'] = '10';
  const tracing = await startTracing(config, logger, { version: 't', env: {}, exporter });
  delete process.env['OTEL_BSP_SCHEDULE_DELAY'];
  assert.ok(tracing?.consuming !== undefined);
  tracing.setInstanceId('n');
  const spans = tracing.consuming.consumer('c', 'postgresql');
  spans.start().end();
  const deadline = Date.now() + 5000;
  while (logs.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.match(logs[0]?.msg ?? '', /google_cloud_adc_auth is not supported by Gyre/);
  assert.deepEqual(logs[1], { level: 'error', ctx: { error: 'collector down' }, msg: 'OpenTelemetry error' });
  // What is still buffered at shutdown and cannot be exported is reported too.
  spans.start().end();
  await tracing.shutdown();
  assert.deepEqual(logs.slice(2), [
    { level: 'warn', ctx: { error: 'collector down' }, msg: 'error flushing OpenTelemetry spans' },
  ]);
});
