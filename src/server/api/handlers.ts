import type { PublishOptions } from '../../core/broker.js';
import type { ServerSubscribeOptions, UserTarget } from '../../core/handlers.js';
import type { ClientInfo } from '../../protocol/types.js';
import { historyEnabled, validPublicationData, type ResolvedChannel } from '../channels/index.js';
import { applyOverride, overrideFromWire } from '../handlers/options.js';
import { compileGlob } from '../http/glob.js';
import { ApiError, apiErrors, toApiError } from './errors.js';
import type {
  BatchRequest,
  BroadcastRequest,
  ChannelRequest,
  ChannelsRequest,
  DisconnectRequest,
  HistoryRequest,
  PublishRequest,
  RefreshRequest,
  RpcRequest,
  SubscribeRequest,
  UnsubscribeRequest,
} from './requests.js';
import type { ApiContext, ApiReply } from './types.js';

/**
 * Server API method handlers (server-api.md §4). Each resolves to the method's result object or
 * throws `ApiError` / `ClientError`; result fields that are zero are left out as Centrifugo does.
 */

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

function decodeB64(s: string): Uint8Array {
  const clean = s.replace(/[\r\n]/g, '');
  if (clean.length % 4 !== 0 || !B64.test(clean)) throw apiErrors.badRequest();
  return Buffer.from(clean, 'base64');
}

function payload(raw: Uint8Array | undefined, b64: string): Uint8Array {
  if (b64 !== '') return decodeB64(b64);
  return raw ?? new Uint8Array(0);
}

function resolve(ctx: ApiContext, channel: string): ResolvedChannel {
  if (channel === '') throw apiErrors.badRequest();
  const r = ctx.rules.resolve(channel);
  if (r === undefined) throw apiErrors.unknownChannel();
  return r;
}

function target(user: string, client: string, session: string): UserTarget {
  const t: UserTarget = { user };
  if (client !== '') t.client = client;
  if (session !== '') t.session = session;
  return t;
}

type PublishFields = Omit<PublishRequest, 'channel'>;

/** Publishes `data` into one channel with the namespace options and the request's flags. */
async function publishOne(
  ctx: ApiContext,
  channel: string,
  data: Uint8Array,
  req: PublishFields,
): Promise<{ offset?: number; epoch?: string }> {
  const resolved = resolve(ctx, channel);
  const st = resolved.options.subscription_type ?? '';
  if (st !== '' && st !== 'stream') throw apiErrors.badRequest();
  if (!validPublicationData(ctx.rules.dataFormat(resolved.options), data)) throw apiErrors.badRequest();
  const base = ctx.app.publishOptions(channel);
  const opts: PublishOptions = { ...base };
  if (req.skip_history) {
    opts.historySize = 0;
    opts.historyTtl = 0;
  }
  if (req.tags !== undefined && Object.keys(req.tags).length > 0) opts.tags = req.tags;
  if (req.idempotency_key !== '') opts.idempotencyKey = req.idempotency_key;
  if (req.delta || resolved.options.delta_publish === true) opts.useDelta = true;
  if (req.version > 0) opts.version = req.version;
  if (req.version_epoch !== '') opts.versionEpoch = req.version_epoch;
  const res = await ctx.node.publish(channel, data, opts);
  const out: { offset?: number; epoch?: string } = {};
  if (res.offset > 0) out.offset = res.offset;
  if (res.epoch !== '') out.epoch = res.epoch;
  return out;
}

export async function publish(ctx: ApiContext, req: PublishRequest): Promise<object> {
  if (req.channel === '') throw apiErrors.badRequest();
  const data = payload(req.data, req.b64data);
  return publishOne(ctx, req.channel, data, req);
}

const BROADCAST_CONCURRENCY = 1024;

export async function broadcast(ctx: ApiContext, req: BroadcastRequest): Promise<object> {
  if (req.channels.length === 0) throw apiErrors.badRequest();
  const data = payload(req.data, req.b64data);
  if (data.length === 0 && req.b64data === '' && req.data === undefined) {
    // Nothing to publish at all: rejected before any channel is looked at.
    throw apiErrors.badRequest();
  }
  const responses: ApiReply[] = new Array<ApiReply>(req.channels.length);
  await runLimited(req.channels.length, BROADCAST_CONCURRENCY, async (i) => {
    const ch = req.channels[i] as string;
    try {
      responses[i] = { result: await publishOne(ctx, ch, data, req) };
    } catch (err) {
      if (!(err instanceof ApiError))
        ctx.logger.error({ err, channel: ch }, 'error publishing data to channel during broadcast');
      responses[i] = { error: toApiError(err) };
    }
  });
  return { responses };
}

export async function subscribe(ctx: ApiContext, req: SubscribeRequest): Promise<object> {
  const resolved = resolve(ctx, req.channel);
  const base = ctx.app.subscribeOptions(req.channel);
  const opts: ServerSubscribeOptions = { ...base };
  applyOverride(opts, overrideFromWire(req.override));
  const info = req.b64info !== '' ? decodeB64(req.b64info) : req.info;
  if (info !== undefined && info.length > 0) opts.channelInfo = info;
  const data = req.b64data !== '' ? decodeB64(req.b64data) : req.data;
  if (data !== undefined && data.length > 0) opts.data = data;
  if (req.expire_at > 0) opts.expireAt = req.expire_at;
  if (req.recover_since !== undefined) opts.recoverSince = { ...req.recover_since };
  opts.historyMetaTtl = ctx.rules.historyMetaTtl(resolved.options);
  await ctx.node.subscribe(target(req.user, req.client, req.session), req.channel, opts);
  return {};
}

export async function unsubscribe(ctx: ApiContext, req: UnsubscribeRequest): Promise<object> {
  if (req.channel !== '' && ctx.rules.resolve(req.channel) === undefined) throw apiErrors.unknownChannel();
  await ctx.node.unsubscribe(target(req.user, req.client, req.session), req.channel);
  return {};
}

export async function disconnect(ctx: ApiContext, req: DisconnectRequest): Promise<object> {
  const d = req.disconnect ?? { code: 3503, reason: 'force disconnect' };
  const wl = req.whitelist.length > 0 ? req.whitelist : undefined;
  await ctx.node.disconnect(
    target(req.user, req.client, req.session),
    { code: d.code, reason: d.reason },
    wl,
  );
  return {};
}

export async function refresh(ctx: ApiContext, req: RefreshRequest): Promise<object> {
  const opts: { expired?: boolean; expireAt?: number; info?: Uint8Array } = {};
  if (req.expired) opts.expired = true;
  if (req.expire_at > 0) opts.expireAt = req.expire_at;
  if (req.info !== undefined && req.info.length > 0) opts.info = req.info;
  await ctx.node.refresh(target(req.user, req.client, req.session), opts);
  return {};
}

function clientInfo(info: ClientInfo): object {
  return { client: info.client, user: info.user, conn_info: info.conn_info, chan_info: info.chan_info };
}

export async function presence(ctx: ApiContext, req: ChannelRequest): Promise<object> {
  const r = resolve(ctx, req.channel);
  if (r.options.presence !== true) throw apiErrors.notAvailable();
  const p = await ctx.node.presence(req.channel);
  const out: Record<string, object> = {};
  for (const [id, info] of Object.entries(p)) out[id] = clientInfo(info);
  return { presence: out };
}

export async function presenceStats(ctx: ApiContext, req: ChannelRequest): Promise<object> {
  const r = resolve(ctx, req.channel);
  if (r.options.presence !== true) throw apiErrors.notAvailable();
  const s = await ctx.node.presenceStats(req.channel);
  return { num_clients: s.numClients, num_users: s.numUsers };
}

export async function history(ctx: ApiContext, req: HistoryRequest): Promise<object> {
  const r = resolve(ctx, req.channel);
  if (!historyEnabled(r.options)) throw apiErrors.notAvailable();
  const query: {
    limit: number;
    since?: { offset: number; epoch: string };
    reverse?: boolean;
    metaTtl?: number;
  } = {
    limit: req.limit,
    metaTtl: ctx.rules.historyMetaTtl(r.options),
  };
  if (req.since !== undefined) query.since = { ...req.since };
  if (req.reverse) query.reverse = true;
  const h = await ctx.node.history(req.channel, query);
  const publications = h.publications.map((p) => ({
    data: p.data,
    info: p.info === undefined ? undefined : clientInfo(p.info),
    offset: p.offset !== undefined && p.offset > 0 ? p.offset : undefined,
    tags: p.tags !== undefined && Object.keys(p.tags).length > 0 ? p.tags : undefined,
  }));
  return { publications, epoch: h.epoch, offset: h.offset };
}

export async function historyRemove(ctx: ApiContext, req: ChannelRequest): Promise<object> {
  const r = resolve(ctx, req.channel);
  if (!historyEnabled(r.options)) throw apiErrors.notAvailable();
  await ctx.node.removeHistory(req.channel);
  return {};
}

export async function channels(ctx: ApiContext, req: ChannelsRequest): Promise<object> {
  let match: (s: string) => boolean = () => true;
  if (req.pattern !== '') {
    try {
      match = compileGlob(req.pattern);
    } catch {
      throw apiErrors.badRequest();
    }
  }
  const all = await ctx.node.channels();
  const out: Record<string, { num_clients?: number }> = {};
  for (const [ch, s] of Object.entries(all)) {
    if (!match(ch)) continue;
    out[ch] = s.numClients > 0 ? { num_clients: s.numClients } : {};
  }
  return { channels: out };
}

export async function info(ctx: ApiContext): Promise<object> {
  const nodes = await ctx.node.info();
  return {
    nodes: nodes.map((n) => ({
      uid: n.uid,
      name: n.name,
      version: n.version,
      num_clients: n.numClients,
      num_users: n.numUsers,
      num_channels: n.numChannels,
      uptime: n.uptime > 0 ? n.uptime : undefined,
      metrics: n.metrics,
      num_subs: n.numSubs,
    })),
  };
}

export async function rpc(ctx: ApiContext, req: RpcRequest): Promise<object> {
  if (req.method === '') throw apiErrors.badRequest();
  const ext = ctx.rpcExtensions.get(req.method);
  if (ext === undefined) throw apiErrors.notFound();
  const data = await ext(req.params);
  return data !== undefined && data.length > 0 ? { data } : {};
}

const BATCH_CONCURRENCY = 1024;

/** Batch result is `{replies: [...]}`; each reply is `{<method>: result}` or `{error}`. */
export async function batch(ctx: ApiContext, req: BatchRequest): Promise<object> {
  const replies: object[] = new Array<object>(req.commands.length);
  const one = async (i: number): Promise<void> => {
    const cmd = req.commands[i];
    if (cmd === undefined) return;
    if ('error' in cmd) {
      replies[i] = { error: cmd.error };
      return;
    }
    const rep = await ctx.run(cmd.method, cmd.request);
    replies[i] = rep.error !== undefined ? { error: rep.error } : { [cmd.method]: rep.result ?? {} };
  };
  if (req.parallel) {
    await runLimited(req.commands.length, BATCH_CONCURRENCY, one);
  } else {
    for (let i = 0; i < req.commands.length; i++) await one(i);
  }
  return { replies };
}

/** Runs `fn(0..n-1)` with at most `limit` calls in flight; resolves when all have settled. */
async function runLimited(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  const workers: Promise<void>[] = [];
  for (let w = 0; w < Math.min(limit, n); w++) workers.push(worker());
  await Promise.all(workers);
}
