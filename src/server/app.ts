import { hostname } from 'node:os';
import type { ClientOptions } from '../core/options.js';
import type { Logger } from '../core/logger.js';
import { Node } from '../core/node.js';
import { codecFor } from '../protocol/index.js';
import { WebSocketAcceptor } from '../transports/websocket/index.js';
import { startUniGrpc } from '../transports/uni-grpc/index.js';
import { mountStreamingTransports } from './transports.js';
import { startGrpcApi } from './api/grpc.js';
import { ApiExecutor, DEFAULT_API_MAX_BODY, HttpApi, type RpcExtension } from './api/index.js';
import { AdminHandler } from './admin/index.js';
import { startConsumers, type RunningConsumers } from './consumers/index.js';
import { ConfigError, startupProblems, type Config } from './config/index.js';
import { buildEngines } from './engines.js';
import { createApp } from './handlers.js';
import { workerId } from './workers.js';
import { listen, tlsOptions, type Listener } from './http/listen.js';
import { createAdmission } from './http/admission.js';
import { createOriginCheck } from './http/origin.js';
import {
  createRouter,
  endpointsUnder,
  handlerPath,
  type HttpEndpoint,
  type Router,
  type RouterOptions,
} from './http/router.js';
import { swaggerEndpoints } from './swagger/handler.js';
import { debugEndpoints } from './debug/handler.js';
import { instrumentRouter, metricsHandler, PrometheusMetrics } from './metrics/index.js';
import { startTracing } from './tracing.js';
import { ConfigReloader, type ConfigSource, type ReloadResult } from './reload.js';
import { startGraphite } from './metrics/graphite.js';

/** Version reported in connect results and the `info` API. */
export const GYRE_VERSION = '0.1.0';

/** A started server. */
export interface RunningServer {
  /** Port of the main (external) listener, the real one when the config asked for port 0. */
  port: number;
  address: string;
  /** Port of the internal listener when one is configured. */
  internalPort?: number;
  /** Port of the GRPC server API when `grpc_api.enabled`. */
  grpcPort?: number;
  /** Port of the unidirectional GRPC stream when `uni_grpc.enabled`. */
  uniGrpcPort?: number;
  /**
   * Graceful shutdown: stops accepting connections, lets in-flight API calls finish, disconnects
   * every client with 3001 "shutdown", then closes the listeners; bounded by `shutdown.timeout`.
   * Idempotent: later calls return the first call's promise.
   */
  shutdown(): Promise<void>;
  /**
   * Reloads the token verification settings and channel options (what SIGHUP does): from `next`
   * when given, else from `StartOptions.reloadSource`. Other changed keys are reported in
   * `notApplied`; an invalid configuration is refused (`errors`) and the running one kept.
   */
  reload(next?: Config): Promise<ReloadResult>;
}

/** Extension points for embedding and tests. */
export interface StartOptions {
  /** Server API RPC extensions (`rpc` method), by method name. */
  rpcExtensions?: ReadonlyMap<string, RpcExtension>;
  /** Where `reload()` without an argument reads the configuration (the CLI: file, env, flags). */
  reloadSource?: ConfigSource;
}

/** Core `ClientOptions` from `config.client`. */
export function clientOptionsFrom(config: Config): Partial<ClientOptions> {
  const c = config.client;
  return {
    pingInterval: c.ping_interval,
    pongTimeout: c.pong_timeout,
    staleCloseDelay: c.stale_close_delay,
    expiredCloseDelay: c.expired_close_delay,
    expiredSubCloseDelay: c.expired_sub_close_delay,
    channelLimit: c.channel_limit,
    userConnectionLimit: c.user_connection_limit,
    queueMaxSize: c.queue_max_size,
    writeDelay: c.write_delay,
    maxMessagesInFrame: c.max_messages_in_frame,
    presenceUpdateInterval: c.presence_update_interval,
    historyMaxPublicationLimit: c.history_max_publication_limit,
    recoveryMaxPublicationLimit: c.recovery_max_publication_limit,
    channelPositionCheckDelay: c.channel_position_check_delay,
    connectIncludeServerTime: c.connect_include_server_time,
    insecure: c.insecure,
    concurrency: c.concurrency,
  };
}

function internalListenerAddress(config: Config): { address: string; port: number } | undefined {
  const hs = config.http_server;
  if (hs.internal_port === '' && hs.internal_address === '') return undefined;
  const port = hs.internal_port !== '' ? Number(hs.internal_port) : hs.port;
  const address = hs.internal_address !== '' ? hs.internal_address : hs.address;
  if (port !== 0 && port === hs.port && address === hs.address) return undefined;
  return { address, port };
}

/**
 * Starts Gyre from a validated config: memory engine, core `Node` with the Centrifugo application
 * rules, the WebSocket transport, the HTTP API, health and init endpoints. Logs `gyre listening`
 * with `{address, port}` once the main listener accepts connections.
 */
export async function startServer(
  config: Config,
  logger: Logger,
  options: StartOptions = {},
): Promise<RunningServer> {
  // What Gyre cannot start with fails before any port opens (validateConfig reports the same).
  const problems = startupProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  // So do bad OTEL_* settings; the OpenTelemetry packages are loaded only when tracing is on.
  const tracing = await startTracing(config, logger, { version: GYRE_VERSION });
  const p = config.prometheus;
  // Graphite exports the same registry, with or without the /metrics endpoint.
  const metrics =
    p.enabled || config.graphite.enabled
      ? new PrometheusMetrics({
          version: GYRE_VERSION,
          nativeHistograms: p.native_histograms,
          recoveredPublicationsHistogram: p.recovered_publications_histogram,
        })
      : undefined;
  const app = createApp(config, logger, undefined, metrics);
  const checkOrigin = createOriginCheck(config.client.allowed_origins);
  // Set once the node runs; requests before that answer 503.
  const state: { node?: Node } = {};
  const ready = (): boolean => state.node !== undefined;

  const httpApiRef: { api?: HttpApi } = {};

  const acceptor = config.websocket.disabled
    ? undefined
    : new WebSocketAcceptor({
        messageSizeLimit: config.websocket.message_size_limit,
        writeTimeout: config.websocket.write_timeout,
        ...(config.websocket.compression
          ? {
              compression: {
                level: config.websocket.compression_level,
                minSize: config.websocket.compression_min_size,
                decompressedMessageSizeLimit: config.websocket.decompressed_message_size_limit,
              },
            }
          : {}),
        pingInterval: config.client.ping_interval,
        pongTimeout: config.client.pong_timeout,
        codecFor,
        logger,
        onConnection: (transport, meta) => {
          if (state.node === undefined) throw new Error('node not running');
          return state.node.handleTransport(transport, meta);
        },
      });

  const internal = internalListenerAddress(config);
  const apiOnExternal = internal === undefined || config.http_api.external;
  const externalRoutes: RouterOptions = { ready };
  const internalRoutes: RouterOptions = { ready };
  // One admission check (connection limit and connection rate) for every real-time endpoint.
  const canAccept = createAdmission({
    connectionLimit: config.client.connection_limit,
    rateLimit: config.client.connection_rate_limit,
    openConnections: () => state.node?.connections.size ?? 0,
    onLimit: () => metrics?.connectionLimitReached(),
  });
  if (acceptor !== undefined) {
    externalRoutes.websocket = {
      path: handlerPath(config.websocket.handler_prefix),
      acceptor,
      checkOrigin,
      canAccept,
    };
  }
  if (config.init.enabled) externalRoutes.initPath = handlerPath(config.init.handler_prefix);
  const healthTarget = internal === undefined ? externalRoutes : internalRoutes;
  if (config.health.enabled) healthTarget.healthPath = handlerPath(config.health.handler_prefix);
  if (metrics !== undefined && p.enabled) {
    // Same listener as health: the internal one when configured.
    (healthTarget.endpoints ??= new Map()).set(handlerPath(p.handler_prefix), metricsHandler(metrics));
  }
  // Centrifugo serves the Swagger UI and the debug endpoints with the other internal endpoints.
  const mountInternal = (
    handlerPrefix: string,
    make: (prefix: string) => Iterable<[string, HttpEndpoint]>,
    what: string,
  ): void => {
    const prefix = handlerPath(handlerPrefix);
    const endpoints = (healthTarget.endpoints ??= new Map());
    for (const [path, handle] of endpointsUnder(prefix, make(prefix))) endpoints.set(path, handle);
    logger.info({ prefix: prefix === '/' ? '/' : `${prefix}/` }, `${what} enabled`);
  };
  if (config.swagger.enabled) {
    const api = { apiPrefix: config.http_api.handler_prefix, version: GYRE_VERSION };
    mountInternal(config.swagger.handler_prefix, () => swaggerEndpoints(api), 'swagger UI');
  }
  if (config.debug.enabled) mountInternal(config.debug.handler_prefix, debugEndpoints, 'debug endpoints');
  const routerOf = (routes: RouterOptions): Router =>
    metrics !== undefined && p.instrument_http_handlers
      ? instrumentRouter(createRouter(routes), routes, metrics)
      : createRouter(routes);

  // The API objects need the node; they are created below, before `ready()` turns true.
  const externalTls = config.http_server.tls.enabled
    ? tlsOptions(config.http_server.tls, 'http_server.tls')
    : undefined;
  let internalTls = undefined;
  if (config.http_server.internal_tls.enabled) {
    internalTls = tlsOptions(config.http_server.internal_tls, 'http_server.internal_tls');
  } else if (externalTls !== undefined && !config.http_server.tls_external) {
    internalTls = externalTls;
  }

  const main = await listen(
    routerOf(externalRoutes),
    config.http_server.address,
    config.http_server.port,
    externalTls,
    // Validation refuses h2c_external without a separate internal port or with TLS.
    config.http_server.h2c_external,
  );
  let internalListener: Listener | undefined;
  try {
    if (internal !== undefined) {
      internalListener = await listen(routerOf(internalRoutes), internal.address, internal.port, internalTls);
    }
  } catch (err) {
    await main.close();
    throw err;
  }

  const baseName = config.node.name !== '' ? config.node.name : `${hostname()}_${main.port}`;
  const wid = workerId();
  const name = wid === undefined ? baseName : `${baseName}_w${wid}`;
  const engines = buildEngines(config, name, logger);
  const n = new Node({
    uid: engines.nodeUid,
    name,
    version: GYRE_VERSION,
    broker: engines.broker,
    presenceManager: engines.presenceManager,
    controller: engines.controller,
    client: clientOptionsFrom(config),
    handlers: app.handlers,
    logger,
    ...(metrics !== undefined ? { metrics } : {}),
  });
  metrics?.bindNode(n);
  tracing?.setInstanceId(n.uid);
  app.setNode(n);
  try {
    await n.run();
  } catch (err) {
    await n.shutdown().catch(() => undefined);
    await main.close();
    if (internalListener !== undefined) await internalListener.close();
    throw err;
  }
  logger.info({ uid: n.uid, ...engines.types }, 'node engines');

  const executor = new ApiExecutor(
    {
      node: n,
      app,
      rules: app.rules,
      logger,
      rpcExtensions: options.rpcExtensions ?? new Map(),
    },
    metrics,
  );
  if (!config.http_api.disabled) {
    const api = new HttpApi(executor, {
      prefix: config.http_api.handler_prefix,
      key: config.http_api.key,
      insecure: config.http_api.insecure,
      errorMode: config.http_api.error_mode,
      maxBodySize: DEFAULT_API_MAX_BODY,
      logger,
      ...(tracing?.api !== undefined ? { tracer: tracing.api } : {}),
    });
    httpApiRef.api = api;
    if (apiOnExternal) externalRoutes.api = api;
    else internalRoutes.api = api;
  }
  let admin: AdminHandler | undefined;
  if (config.admin.enabled) {
    admin = new AdminHandler({
      handlerPrefix: config.admin.handler_prefix,
      password: config.admin.password,
      secret: config.admin.secret,
      insecure: config.admin.insecure,
      webPath: config.admin.web_path,
      webProxyAddress: config.admin.web_proxy_address,
      executor,
      logger,
    });
    const adminOnExternal = internal === undefined || config.admin.external;
    (adminOnExternal ? externalRoutes : internalRoutes).admin = admin;
    logger.info(
      {
        prefix: `${admin.prefix}/`,
        ui: admin.uiKind,
        external: adminOnExternal,
        insecure: config.admin.insecure,
      },
      'admin web interface enabled',
    );
  }
  const streaming = mountStreamingTransports(n, config, logger, checkOrigin, externalRoutes, canAccept);
  let grpcApi: { port: number; close(): Promise<void> } | undefined;
  let uniGrpc: { port: number; close(): Promise<void> } | undefined;
  let consumers: RunningConsumers | undefined;
  try {
    if (config.grpc_api.enabled) grpcApi = await startGrpcApi(executor, config, logger, tracing?.api);
    if (config.uni_grpc.enabled) uniGrpc = await startUniGrpc(n, config, logger);
    // Consumers run API commands: they start once the node and the executor are up.
    if (config.consumers.length > 0) {
      consumers = await startConsumers(config.consumers, {
        api: executor,
        logger,
        nodeId: n.uid,
        ...(tracing?.consuming !== undefined ? { tracer: tracing.consuming } : {}),
      });
    }
  } catch (err) {
    await uniGrpc?.close();
    await grpcApi?.close();
    streaming.close();
    await n.shutdown().catch(() => undefined);
    await main.close();
    if (internalListener !== undefined) await internalListener.close();
    throw err;
  }
  state.node = n;
  const graphite =
    config.graphite.enabled && metrics
      ? startGraphite(config.graphite, metrics.registry, name, logger)
      : undefined;

  logger.info({ address: main.address, port: main.port }, 'gyre listening');
  if (internalListener !== undefined) {
    logger.info(
      { address: internalListener.address, port: internalListener.port },
      'gyre internal listening',
    );
  }

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    shutdownPromise ??= (async () => {
      const deadline = Date.now() + config.shutdown.timeout;
      const graphiteStopped = graphite?.stop();
      const listeners = [main, ...(internalListener ? [internalListener] : [])];
      const closed = Promise.all(listeners.map((l) => l.close()));
      // Refuses new GRPC API calls; running ones finish (bounded by the deadline below).
      const grpcClosed = grpcApi?.close();
      httpApiRef.api?.setShuttingDown();
      // In-flight API requests (bodies still arriving included) finish before clients go.
      // Consumers stop taking messages; the ones being processed finish (and are acknowledged).
      await withDeadline(
        Promise.all([consumers?.stop(), executor.idle(), httpApiRef.api?.idle(), admin?.idle()]),
        deadline,
      );
      await n.shutdown();
      app.close();
      // After the node sent every uni GRPC stream its 3001 disconnect push.
      await withDeadline(Promise.all([uniGrpc?.close(), grpcClosed]), deadline);
      if (acceptor !== undefined) await waitUntil(() => acceptor.size === 0, deadline);
      acceptor?.close();
      streaming.close();
      for (const l of listeners) l.closeAllConnections();
      await withDeadline(Promise.all([closed, graphiteStopped]), deadline);
      // Spans still buffered are exported (bounded even when the deadline has passed).
      if (tracing !== undefined) {
        await withDeadline(tracing.shutdown(), Math.max(deadline, Date.now() + 2000));
      }
      logger.info({}, 'gyre stopped');
    })();
    return shutdownPromise;
  };

  const reloader = new ConfigReloader({ config, target: app, logger, source: options.reloadSource });
  const reload = (next?: Config): Promise<ReloadResult> => reloader.reload(next);
  const running: RunningServer = { port: main.port, address: main.address, shutdown, reload };
  if (internalListener !== undefined) running.internalPort = internalListener.port;
  if (grpcApi !== undefined) running.grpcPort = grpcApi.port;
  if (uniGrpc !== undefined) running.uniGrpcPort = uniGrpc.port;
  return running;
}

function withDeadline(p: Promise<unknown>, deadline: number): Promise<void> {
  const left = deadline - Date.now();
  if (left <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(resolve, left);
    const done = (): void => {
      clearTimeout(t);
      resolve();
    };
    p.then(done, done);
  });
}

/** Polls `cond` until it holds or `deadline` (ms timestamp) passes. */
function waitUntil(cond: () => boolean, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (cond() || Date.now() >= deadline) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
}
