import type {
  ClientView,
  ConnectingEvent,
  ConnectingResult,
  Credentials,
  NodeApi,
  PublishReply,
  RefreshReply,
  SubRefreshReply,
  SubscribeOptions,
} from '../../core/handlers.js';
import type { Logger } from '../../core/logger.js';
import type { ConnectionMeta } from '../../core/transport.js';
import { ClientError, DisconnectError, ErrorCode } from '../../protocol/codes.js';
import type { ChannelRules, ResolvedChannel } from '../channels/index.js';
import type { Config, ProxyConfig } from '../config/index.js';
import { namespacePublishOptions } from '../handlers/commands.js';
import type { ProxyHooks } from '../handlers/context.js';
import { applyOverride, namespaceSubscribeOptions, overrideFromWire } from '../handlers/options.js';
import { GrpcProxyTransport } from './grpc.js';
import { HttpProxyTransport } from './http.js';
import { nowSec } from '../../core/time.js';
import { StreamProxies } from './stream.js';
import {
  ProxyCallError,
  type CallContext,
  type ProxyMethodName,
  type ProxyRequest,
  type ProxyResponse,
  type ProxyTransport,
} from './transport.js';

type Plain = Record<string, unknown>;
type ChannelKind = 'subscribe' | 'publish' | 'sub_refresh' | 'subscribe_stream';

/** How long a connection or subscription is extended when its refresh proxy call fails (proxy.md §4.2, §5.3). */
export const refreshRetrySeconds = 60;

/** Creates the transport for a proxy object: `http(s)://` ⇒ HTTP, anything else ⇒ GRPC. */
export function createTransport(cfg: ProxyConfig): ProxyTransport {
  return /^https?:\/\//i.test(cfg.endpoint) ? new HttpProxyTransport(cfg) : new GrpcProxyTransport(cfg);
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'string' ? Number(v) || 0 : 0);
const bytes = (v: unknown): Uint8Array | undefined => (v instanceof Uint8Array ? v : undefined);
const strList = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
const obj = (v: unknown): Plain | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)
    ? (v as Plain)
    : undefined;

/** Applies `expire_at`, `info`, `data` and `override` of a proxy result to subscription options. */
function applySubscribeResult(opts: SubscribeOptions, r: Plain): SubscribeOptions {
  applyOverride(opts, overrideFromWire(r['override']));
  const info = bytes(r['info']);
  if (info) opts.channelInfo = info;
  const data = bytes(r['data']);
  if (data) opts.data = data;
  const exp = num(r['expire_at']);
  if (exp > 0) opts.expireAt = exp;
  return opts;
}

/** Throws the backend's `disconnect` or `error`; returns its `result` (checked in that order, proxy.md §3). */
function outcome(resp: ProxyResponse): Plain | undefined {
  if (resp.disconnect) throw new DisconnectError(resp.disconnect.code, resp.disconnect.reason || undefined);
  if (resp.error)
    throw new ClientError(resp.error.code, resp.error.message || undefined, resp.error.temporary);
  return resp.result;
}

/** Timing and failures of proxy calls (implemented by the server's Prometheus metrics). */
export interface ProxyMetrics {
  /** A call starts; returns a timestamp for `proxyDone`. */
  proxyStarted(protocol: string, type: string, name: string): number;
  /** The call ended; `failed` when the backend could not be reached or answered unusably. */
  proxyDone(protocol: string, type: string, name: string, started: number, failed: boolean): void;
}

const metricType: Record<ProxyMethodName, string> = {
  Connect: 'connect',
  Refresh: 'refresh',
  Subscribe: 'subscribe',
  Publish: 'publish',
  RPC: 'rpc',
  SubRefresh: 'sub_refresh',
};

/**
 * Measures every unary call of `t`. Wraps `call` on the object itself: the transport keeps its
 * class (the subscribe stream proxy checks for a GRPC transport).
 */
function instrument(t: ProxyTransport, name: string, m: ProxyMetrics): void {
  const call = t.call.bind(t);
  t.call = async (method, request, ctx) => {
    const type = metricType[method];
    const started = m.proxyStarted(t.kind, type, name);
    try {
      const resp = await call(method, request, ctx);
      m.proxyDone(t.kind, type, name, started, false);
      return resp;
    } catch (err) {
      m.proxyDone(t.kind, type, name, started, true);
      throw err;
    }
  };
}

/** Options of {@link createProxyHooks}. */
export interface ProxyHooksOptions {
  config: Config;
  logger: Logger;
  rules: ChannelRules;
  /** The running node (used to end subscriptions whose sub_refresh proxy says expired). */
  node: () => NodeApi | undefined;
  /** Proxy call metrics (`name` label: the `proxies[]` name, `default` otherwise). */
  metrics?: ProxyMetrics | undefined;
}

/** Proxy hooks plus resource management. */
export interface ProxyHooksHandle {
  hooks: ProxyHooks;
  /** Closes every backend connection and pending refresh timer. */
  close(): void;
}

/**
 * Builds the proxy hooks of a config (proxy.md): connect/refresh from `client.proxy.*` (installed
 * only when enabled with an endpoint), channel proxies from `channel.proxy.*` or the named
 * `proxies[]` entry a namespace's `*_proxy_name` selects, RPC from `rpc.proxy` or a named proxy.
 * A selected proxy without an endpoint answers 108 like an absent one. Backend errors and
 * disconnects reach the client as given; transport failures become internal error 100
 * (temporary) for connect/subscribe/publish/rpc and a 60 s extension for refresh/sub_refresh.
 */
export function createProxyHooks(opts: ProxyHooksOptions): ProxyHooksHandle {
  const { config, logger, rules } = opts;
  const transports = new Map<string, ProxyTransport>();
  const emulated = new WeakMap<ConnectionMeta, Record<string, string>>();
  const subRefreshTimers = new Map<string, NodeJS.Timeout>();

  const named = (name: string): ProxyConfig | undefined => config.proxies.find((p) => p.name === name);

  const transport = (
    key: string,
    cfg: ProxyConfig | undefined,
  ): [ProxyTransport, ProxyConfig] | undefined => {
    if (!cfg || cfg.endpoint === '') return undefined;
    let t = transports.get(key);
    if (!t) {
      t = createTransport(cfg);
      if (opts.metrics) instrument(t, key.startsWith('named.') ? key.slice(6) : 'default', opts.metrics);
      transports.set(key, t);
    }
    return [t, cfg];
  };

  const channelProxy = (kind: ChannelKind, name: string): [ProxyTransport, ProxyConfig] | undefined => {
    if (name === '' || name === 'default') return transport(`channel.${kind}`, config.channel.proxy[kind]);
    return transport(`named.${name}`, named(name));
  };

  const callCtx = (client: ClientView): CallContext => ({
    transportName: client.transportName,
    connMeta: client.connMeta,
    emulated: emulated.get(client.connMeta),
  });

  const base = (client: ClientView, cfg: ProxyConfig): ProxyRequest => {
    const r: ProxyRequest = {
      client: client.id,
      transport: client.transportName,
      protocol: client.protocol,
      encoding: cfg.binary_encoding ? 'binary' : 'json',
      user: client.userId,
    };
    if (cfg.include_connection_meta && client.meta) r.meta = client.meta;
    return r;
  };

  /** Calls the backend; transport failures ⇒ internal error 100 (temporary). */
  const call = async (
    t: ProxyTransport,
    method: ProxyMethodName,
    req: ProxyRequest,
    ctx: CallContext,
    log: Plain,
  ): Promise<ProxyResponse> => {
    try {
      return await t.call(method, req, ctx);
    } catch (err) {
      logger.error(
        { ...log, method, error: err instanceof Error ? err.message : String(err) },
        'proxy call failed',
      );
      throw new ClientError(ErrorCode.internal);
    }
  };

  const notAvailable = (log: Plain, what: string): never => {
    logger.info(log, `${what} proxy not configured`);
    throw new ClientError(ErrorCode.notAvailable);
  };

  const subRefreshKey = (client: ClientView, channel: string): string => `${client.id}\u0000${channel}`;

  /** Server-side subscription refresh: at `expireAt` ask the sub_refresh proxy, end or extend. */
  const scheduleSubRefresh = (
    client: ClientView,
    channel: string,
    ns: ResolvedChannel,
    expireAt: number,
  ): void => {
    const key = subRefreshKey(client, channel);
    const prev = subRefreshTimers.get(key);
    if (prev) clearTimeout(prev);
    const delay = Math.max(0, expireAt * 1000 - Date.now());
    const timer = setTimeout(() => {
      subRefreshTimers.delete(key);
      if (!client.isSubscribed(channel)) return;
      void hooks.subRefresh!(client, { channel, token: '' }, ns).then(
        (reply) => {
          if (!client.isSubscribed(channel)) return;
          const next = reply.expireAt ?? 0;
          if (reply.expired || (next > 0 && next <= nowSec())) {
            logger.info(
              { client: client.id, user: client.userId, channel },
              'subscription expired by sub_refresh proxy',
            );
            // 2501: the client resubscribes (and goes through the subscribe proxy again).
            client.unsubscribe(channel, { code: 2501, reason: 'subscription expired' });
            return;
          }
          if (next > 0) scheduleSubRefresh(client, channel, ns, next);
        },
        (err: unknown) => {
          if (err instanceof DisconnectError) client.disconnect({ code: err.code, reason: err.reason });
        },
      );
    }, delay);
    timer.unref();
    subRefreshTimers.set(key, timer);
  };

  const streams = new StreamProxies(logger);

  const hooks: ProxyHooks = {
    unsubscribed(client, channel) {
      streams.unsubscribed(client.id, channel);
    },

    disconnected(client) {
      streams.disconnected(client.id);
    },

    async subscribeStream(client, event, ns) {
      const log = { client: client.id, user: client.userId, channel: event.channel };
      const p = channelProxy('subscribe_stream', ns.options.subscribe_stream_proxy_name ?? 'default');
      if (!p) return notAvailable(log, 'subscribe stream');
      const [t, cfg] = p;
      if (!(t instanceof GrpcProxyTransport)) {
        logger.error(log, 'subscribe stream proxy needs a GRPC endpoint');
        throw new ClientError(ErrorCode.notAvailable);
      }
      const request = base(client, cfg);
      request['channel'] = event.channel;
      if (event.token) request['token'] = event.token;
      if (event.data && event.data.length > 0) request.data = event.data;
      const options = await streams.subscribe({
        client,
        channel: event.channel,
        request,
        ctx: callCtx(client),
        cfg,
        transport: t,
        bidirectional: ns.options.subscribe_stream_proxy_bidirectional === true,
        decide: (resp) =>
          applySubscribeResult(namespaceSubscribeOptions(rules, ns.options), outcome(resp) ?? {}),
      });
      // No history/recovery semantics for stream subscriptions.
      options.enableRecovery = false;
      options.enablePositioning = false;
      return { options };
    },

    observeConnecting(event: ConnectingEvent): void {
      if (event.headers && Object.keys(event.headers).length > 0) emulated.set(event.meta, event.headers);
    },

    async subscribe(client, event, ns) {
      const log = { client: client.id, user: client.userId, channel: event.channel };
      const p = channelProxy('subscribe', ns.options.subscribe_proxy_name ?? 'default');
      if (!p) return notAvailable(log, 'subscribe');
      const [t, cfg] = p;
      const req = base(client, cfg);
      req['channel'] = event.channel;
      if (event.token) req['token'] = event.token;
      if (event.data && event.data.length > 0) req.data = event.data;
      const result = outcome(await call(t, 'Subscribe', req, callCtx(client), log)) ?? {};
      const options = applySubscribeResult(namespaceSubscribeOptions(rules, ns.options), result);
      if (
        ns.options.sub_refresh_proxy_enabled === true &&
        options.expireAt !== undefined &&
        options.expireAt > 0
      ) {
        if (options.expireAt <= nowSec()) throw new ClientError(ErrorCode.expired);
        // The server refreshes the subscription itself: the client sees no expiry.
        scheduleSubRefresh(client, event.channel, ns, options.expireAt);
        delete options.expireAt;
      }
      return { options };
    },

    async subRefresh(client, event, ns): Promise<SubRefreshReply> {
      const log = { client: client.id, user: client.userId, channel: event.channel };
      const p = channelProxy('sub_refresh', ns.options.sub_refresh_proxy_name ?? 'default');
      if (!p) return notAvailable(log, 'sub refresh');
      const [t, cfg] = p;
      const req = base(client, cfg);
      req['channel'] = event.channel;
      let resp: ProxyResponse;
      try {
        resp = await t.call('SubRefresh', req, callCtx(client));
      } catch (err) {
        logger.error({ ...log, error: String(err) }, 'sub refresh proxy failed, extending subscription');
        return { expireAt: nowSec() + refreshRetrySeconds };
      }
      if (resp.disconnect)
        throw new DisconnectError(resp.disconnect.code, resp.disconnect.reason || undefined);
      if (resp.error) return { expireAt: nowSec() + refreshRetrySeconds };
      const r = resp.result;
      if (!r || r['expired'] === true) return { expired: true };
      const reply: SubRefreshReply = { expireAt: num(r['expire_at']) };
      const info = bytes(r['info']);
      if (info) reply.info = info;
      return reply;
    },

    async publish(client, event, ns): Promise<PublishReply> {
      const log = { client: client.id, user: client.userId, channel: event.channel };
      if (ns.options.publish_proxy_enabled !== true && ns.options.subscribe_stream_proxy_enabled === true) {
        // Bidirectional stream: the publication goes to the backend stream, not to the channel.
        if (!streams.publish(client, event.channel, event.data)) {
          throw new ClientError(ErrorCode.permissionDenied);
        }
        return { result: { offset: 0, epoch: '' } };
      }
      if (ns.options.publish_proxy_enabled !== true) return notAvailable(log, 'publish');
      const p = channelProxy('publish', ns.options.publish_proxy_name ?? 'default');
      if (!p) return notAvailable(log, 'publish');
      const [t, cfg] = p;
      const req = base(client, cfg);
      req['channel'] = event.channel;
      if (event.data.length > 0) req.data = event.data;
      const r = outcome(await call(t, 'Publish', req, callCtx(client), log)) ?? {};
      const options = namespacePublishOptions(rules, ns.options);
      if (r['skip_history'] === true) {
        options.historySize = 0;
        options.historyTtl = 0;
      }
      const tags = obj(r['tags']);
      if (tags && Object.keys(tags).length > 0) {
        options.tags = Object.fromEntries(Object.entries(tags).map(([k, v]) => [k, String(v)]));
      }
      const idem = str(r['idempotency_key']);
      if (idem !== '') options.idempotencyKey = idem;
      if (r['delta'] === true) options.useDelta = true;
      const version = num(r['version']);
      if (version > 0) options.version = version;
      const epoch = str(r['version_epoch']);
      if (epoch !== '') options.versionEpoch = epoch;
      const reply: PublishReply = { options };
      const data = bytes(r['data']);
      if (data) reply.data = data;
      return reply;
    },

    async rpc(client, event, proxyName) {
      const log = { client: client.id, user: client.userId, method: event.method };
      const p =
        proxyName === '' || proxyName === 'default'
          ? transport('rpc', config.rpc.proxy)
          : transport(`named.${proxyName}`, named(proxyName));
      if (!p) return notAvailable(log, 'rpc');
      const [t, cfg] = p;
      const req = base(client, cfg);
      req['method'] = event.method;
      if (event.data.length > 0) req.data = event.data;
      const r = outcome(await call(t, 'RPC', req, callCtx(client), log)) ?? {};
      const data = bytes(r['data']);
      return data ? { data } : {};
    },
  };

  const connectCfg = config.client.proxy.connect;
  if (connectCfg.enabled && connectCfg.endpoint !== '') {
    hooks.connect = async (event): Promise<ConnectingResult | undefined> => {
      const [t, cfg] = transport('client.connect', connectCfg)!;
      const log = { client: event.clientId };
      const req: ProxyRequest = {
        client: event.clientId,
        transport: event.transportName,
        protocol: event.protocol,
        encoding: cfg.binary_encoding ? 'binary' : 'json',
      };
      if (event.name) req['name'] = event.name;
      if (event.version) req['version'] = event.version;
      if (event.data && event.data.length > 0) req.data = event.data;
      const channels = Object.keys(event.subs ?? {});
      if (channels.length > 0) req['channels'] = channels;
      const ctx: CallContext = {
        transportName: event.transportName,
        connMeta: event.meta,
        emulated: event.headers,
      };
      const r = outcome(await call(t, 'Connect', req, ctx, log));
      if (!r) return undefined;
      return connectResult(r);
    };
  }

  const connectResult = (r: Plain): ConnectingResult => {
    const credentials: Credentials = { userId: str(r['user']) };
    const exp = num(r['expire_at']);
    if (exp > 0) credentials.expireAt = exp;
    const info = bytes(r['info']);
    if (info) credentials.info = info;
    const meta = obj(r['meta']);
    if (meta) credentials.meta = meta;
    const subscriptions: Record<string, SubscribeOptions> = {};
    for (const ch of strList(r['channels'])) {
      const ns = rules.resolve(ch);
      if (!ns) throw new ClientError(ErrorCode.unknownChannel);
      subscriptions[ch] = namespaceSubscribeOptions(rules, ns.options);
    }
    for (const [ch, s] of Object.entries(obj(r['subs']) ?? {})) {
      const ns = rules.resolve(ch);
      if (!ns) throw new ClientError(ErrorCode.unknownChannel);
      const so = obj(s) ?? {};
      const o = applySubscribeResult(namespaceSubscribeOptions(rules, ns.options), so);
      if (so['cache_recover'] === true) o.autoCacheRecover = true;
      subscriptions[ch] = o;
    }
    const out: ConnectingResult = { credentials };
    if (Object.keys(subscriptions).length > 0) out.subscriptions = subscriptions;
    const data = bytes(r['data']);
    if (data) out.data = data;
    return out;
  };

  const refreshCfg = config.client.proxy.refresh;
  if (refreshCfg.enabled && refreshCfg.endpoint !== '') {
    hooks.refresh = async (client): Promise<RefreshReply> => {
      const [t, cfg] = transport('client.refresh', refreshCfg)!;
      const log = { client: client.id, user: client.userId };
      let resp: ProxyResponse;
      try {
        resp = await t.call('Refresh', base(client, cfg), callCtx(client));
      } catch (err) {
        const error = err instanceof ProxyCallError ? err.message : String(err);
        logger.error({ ...log, error }, 'refresh proxy failed, extending connection');
        return { expireAt: nowSec() + refreshRetrySeconds };
      }
      if (resp.disconnect)
        throw new DisconnectError(resp.disconnect.code, resp.disconnect.reason || undefined);
      if (resp.error) return { expireAt: nowSec() + refreshRetrySeconds };
      const r = resp.result;
      if (!r || r['expired'] === true) return { expired: true };
      const reply: RefreshReply = { expireAt: num(r['expire_at']) };
      const info = bytes(r['info']);
      if (info) reply.info = info;
      const meta = r['meta'];
      if (meta !== null && typeof meta === 'object' && !Array.isArray(meta)) reply.meta = meta as Plain;
      return reply;
    };
  }

  return {
    hooks,
    close() {
      streams.close();
      for (const t of transports.values()) t.close();
      transports.clear();
      for (const timer of subRefreshTimers.values()) clearTimeout(timer);
      subRefreshTimers.clear();
    },
  };
}
