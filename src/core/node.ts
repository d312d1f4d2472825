import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Codec } from '../protocol/codec.js';
import { DisconnectCode, type Disconnect } from '../protocol/codes.js';
import { codecFor as defaultCodecFor } from '../protocol/index.js';
import type { ClientInfo, ProtocolType, Publication, StreamPosition } from '../protocol/types.js';
import type { Broker, BrokerEventHandler, HistoryResult, PublishOptions, PublishResult } from './broker.js';
import { Client, type ChannelSub } from './client.js';
import { NodeCluster } from './cluster.js';
import type { ControlMessage } from './control.js';
import type { Controller } from './controller.js';
import { DeltaPush } from './delta/push.js';
import { EncodedPush, markShared, type Variant } from './encoded.js';
import type {
  ChannelSummary,
  NodeApi,
  NodeHandlers,
  NodeInfo,
  RefreshUserOptions,
  ServerSubscribeOptions,
  UserTarget,
} from './handlers.js';
import { Hub } from './hub.js';
import { noopLogger, type Logger } from './logger.js';
import { noopMetrics, type NodeMetrics } from './metrics.js';
import { MemoryBroker } from './memory/broker.js';
import { MemoryController } from './memory/controller.js';
import { MemoryPresenceManager } from './memory/presence.js';
import { defaultClientOptions, type ClientOptions } from './options.js';
import type { PresenceManager, PresenceStats } from './presence.js';
import { TimerWheel } from './timers.js';
import type { ConnectionMeta, Transport } from './transport.js';
import type { WriterOptions } from './writer.js';

const RESOLVED: Promise<void> = Promise.resolve();

export interface NodeOptions {
  /** Unique id of this node in the cluster (default: a random UUID). */
  uid?: string;
  /** Node name shown in `info` (default: host name). */
  name?: string;
  /** Version string sent in connect results (default `""`). */
  version?: string;
  /** Default: a `MemoryBroker`. */
  broker?: Broker;
  /** Default: a `MemoryPresenceManager`. */
  presenceManager?: PresenceManager;
  /**
   * Node-to-node control (node list, user operations on every node, surveys). Default: a
   * `MemoryController` of its own, i.e. a node alone.
   */
  controller?: Controller;
  /** Node info heartbeat period (ms); a node silent for 3 periods leaves `info()`. Default 3000. */
  nodeInfoInterval?: number;
  /** How long (ms) cluster-wide queries (`channels()`, surveys) wait for other nodes. Default 3000. */
  surveyTimeout?: number;
  client?: Partial<ClientOptions>;
  handlers?: NodeHandlers;
  logger?: Logger;
  /** Instrumentation hooks (default: none). */
  metrics?: NodeMetrics;
  /** Resolution (ms) of the shared timer wheel. Default 200. */
  timerResolution?: number;
  /** Codec lookup (default: the protocol module's `codecFor`); replaceable in tests. */
  codecFor?: (type: ProtocolType) => Codec;
}

/**
 * A Gyre node: owns the hub of local connections, runs the shared timers and fans broker events
 * out to subscribers. One process may run several nodes; a broker/controller joins them.
 */
export class Node implements NodeApi {
  readonly uid: string;
  readonly name: string;
  readonly version: string;
  readonly broker: Broker;
  readonly presenceManager: PresenceManager;
  readonly controller: Controller;
  readonly cluster: NodeCluster;
  /**
   * Applies client→server commands of an emulation session that another node routed here
   * (`routeSessionData`). The emulation transport sets it to restrict which sessions accept them;
   * the default hands the data to any local connection with that session id.
   */
  onSessionData: (session: string, data: Uint8Array) => void = (session, data) =>
    this.sessions.get(session)?.handleData(data);
  readonly clientOptions: Readonly<ClientOptions>;
  /** Writer settings shared by every connection (from `clientOptions`). */
  readonly writerOptions: Readonly<WriterOptions>;
  readonly logger: Logger;
  readonly metrics: NodeMetrics;
  readonly hub = new Hub();
  /** Every open connection of this node, connected or not yet. */
  readonly connections = new Set<Client>();
  /** Open connections by session id (emulation requests find their connection here). */
  readonly sessions = new Map<string, Client>();
  readonly wheel: TimerWheel;
  /** Application hooks; may be replaced before connections arrive. */
  handlers: NodeHandlers;
  readonly codecFor: (type: ProtocolType) => Codec;
  private readonly jsonCodec: Codec;
  private protobufCodecCache: Codec | undefined;
  /** Ping bytes per variant, encoded once: every connection sends the same. */
  private readonly pings: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];
  /** Channels the broker delivers to this node: the pending subscribe, `true` once it is done. */
  private readonly brokerSubs = new Map<string, Promise<void> | true>();
  private readonly startedAt = Date.now();
  private running = false;
  private closing = false;

  constructor(options: NodeOptions = {}) {
    this.uid = options.uid ?? randomUUID();
    this.name = options.name ?? hostname();
    this.version = options.version ?? '';
    this.broker = options.broker ?? new MemoryBroker();
    this.presenceManager = options.presenceManager ?? new MemoryPresenceManager();
    this.controller = options.controller ?? new MemoryController();
    this.cluster = new NodeCluster(
      {
        uid: this.uid,
        get logger() {
          return logger();
        },
        localInfo: () => this.localInfo(),
        metrics: options.metrics ?? noopMetrics,
        applyControl: (msg) => this.applyControl(msg),
        answerSurvey: (op) => this.answerSurvey(op),
      },
      this.controller,
      options.nodeInfoInterval ?? 3000,
      options.surveyTimeout ?? 3000,
    );
    this.clientOptions = Object.freeze({ ...defaultClientOptions, ...stripUndefined(options.client ?? {}) });
    const co = this.clientOptions;
    this.writerOptions = Object.freeze({
      writeDelay: co.writeDelay,
      maxMessagesInFrame: co.maxMessagesInFrame,
      queueMaxSize: co.queueMaxSize,
    });
    this.handlers = options.handlers ?? {};
    this.logger = options.logger ?? noopLogger;
    this.metrics = options.metrics ?? noopMetrics;
    const logger = (): Logger => this.logger;
    this.wheel = new TimerWheel(options.timerResolution ?? 200);
    this.codecFor = options.codecFor ?? defaultCodecFor;
    this.jsonCodec = this.codecFor('json');
  }

  private get protobufCodec(): Codec {
    this.protobufCodecCache ??= this.codecFor('protobuf');
    return this.protobufCodecCache;
  }

  /** Starts the broker event flow. Call once before serving connections. */
  async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const handler: BrokerEventHandler = {
      onPublication: (channel, pub, sp, useDelta, prevPub) =>
        this.handlePublication(channel, pub, sp, useDelta, prevPub),
      onJoin: (channel, info) => this.handleJoinLeave(channel, info, true),
      onLeave: (channel, info) => this.handleJoinLeave(channel, info, false),
    };
    await this.broker.run(handler);
    await this.cluster.run();
  }

  /**
   * Serves one connection. The transport then calls `client.handleData(frame)` per incoming
   * frame (or `client.connectUnidirectional(request)` once) and `client.handleClose()` when
   * the socket closes.
   */
  handleTransport(transport: Transport, meta: ConnectionMeta): Client {
    const client = new Client(this, transport, meta);
    if (this.closing) client.disconnect({ code: DisconnectCode.shutdown, reason: 'shutdown' });
    return client;
  }

  /** Disconnects every client with 3001 shutdown, stops timers, closes broker and presence. */
  async shutdown(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const c of [...this.connections])
      c.disconnect({ code: DisconnectCode.shutdown, reason: 'shutdown' });
    this.wheel.clear();
    await this.cluster.close().catch((err: unknown) => this.logger.warn({ err }, 'controller close failed'));
    await this.broker.close();
    await this.presenceManager.close();
  }

  // ---- broker events (hot path) ----

  private handlePublication(
    channel: string,
    pub: Publication,
    sp: StreamPosition,
    useDelta: boolean,
    prevPub?: Publication,
  ): void {
    this.metrics.brokerReceived('publication');
    const subs = this.hub.subscriberGroup(channel);
    if (subs === undefined) return;
    const started = this.metrics.now();
    const encoded = new EncodedPush({ channel, pub }, this.jsonCodec, this.protobufCodecLazy);
    // One lazily computed delta per publication, shared by every delta subscriber.
    const dp = new DeltaPush(
      encoded,
      channel,
      pub,
      useDelta ? prevPub : undefined,
      this.jsonCodec,
      this.protobufCodecLazy,
    );
    // Synchronous loop on purpose: no Promise per subscriber, bytes shared by all.
    if (subs instanceof Map) {
      for (const sub of subs.values()) sub.client.deliverPublication(sub, pub, sp.epoch, encoded, dp);
    } else {
      const sub = subs as ChannelSub;
      sub.client.deliverPublication(sub, pub, sp.epoch, encoded, dp);
    }
    this.metrics.broadcastDone(started);
  }

  private handleJoinLeave(channel: string, info: ClientInfo, join: boolean): void {
    this.metrics.brokerReceived(join ? 'join' : 'leave');
    const subs = this.hub.subscriberGroup(channel);
    if (subs === undefined) return;
    const push = join ? { channel, join: { info } } : { channel, leave: { info } };
    const encoded = new EncodedPush(push, this.jsonCodec, this.protobufCodecLazy);
    if (subs instanceof Map) {
      for (const sub of subs.values()) sub.client.deliverJoinLeave(sub, encoded);
    } else {
      const sub = subs as ChannelSub;
      sub.client.deliverJoinLeave(sub, encoded);
    }
  }

  /** A Codec proxy that resolves the protobuf codec only when a protobuf subscriber needs it. */
  private readonly protobufCodecLazy: Codec = {
    type: 'protobuf',
    decodeCommands: (f) => this.protobufCodec.decodeCommands(f),
    encodeReply: (r) => this.protobufCodec.encodeReply(r),
    encodePush: (p) => this.protobufCodec.encodePush(p),
    joinFrame: (m) => this.protobufCodec.joinFrame(m),
    decodeConnectRequest: (d) => this.protobufCodec.decodeConnectRequest(d),
  };

  /** The protocol ping (an empty Reply, or an empty Push on unidirectional transports). */
  pingMessage(variant: Variant): Uint8Array {
    let bytes = this.pings[variant];
    if (bytes === undefined) {
      const codec = (variant & 1) === 0 ? this.jsonCodec : this.protobufCodec;
      // Shared: a transport frames it once and writes the same bytes to every connection.
      bytes = markShared(variant < 2 ? codec.encodeReply({}) : codec.encodePush({}));
      this.pings[variant] = bytes;
    }
    return bytes;
  }

  /** Encodes a push for one client's variant without the broadcast cache. */
  encodedPush(push: EncodedPush['push']): EncodedPush {
    return new EncodedPush(push, this.jsonCodec, this.protobufCodecLazy);
  }

  // ---- broker channel subscriptions ----

  /** Makes sure the broker delivers this channel to the node (once per channel). */
  brokerSubscribe(channel: string): Promise<void> {
    const cur = this.brokerSubs.get(channel);
    if (cur === true) return RESOLVED;
    if (cur !== undefined) return cur;
    this.metrics.action('broker_subscribe');
    const p = this.broker.subscribe([channel]);
    this.brokerSubs.set(channel, p);
    // Once done, a flag replaces the promise (one fewer object per channel).
    p.then(
      () => {
        if (this.brokerSubs.get(channel) === p) this.brokerSubs.set(channel, true);
      },
      () => {
        if (this.brokerSubs.get(channel) === p) this.brokerSubs.delete(channel);
      },
    );
    return p;
  }

  /** Called when the last local subscriber of a channel left. */
  brokerUnsubscribe(channel: string): void {
    const cur = this.brokerSubs.get(channel);
    if (cur === undefined) return;
    this.brokerSubs.delete(channel);
    (cur === true ? RESOLVED : cur)
      .then(() => {
        // A new subscriber may have arrived meanwhile and re-subscribed; then keep the channel.
        if (this.hub.hasSubscribers(channel) || this.brokerSubs.has(channel)) return;
        this.metrics.action('broker_unsubscribe');
        return this.broker.unsubscribe([channel]);
      })
      .catch((err: unknown) => this.logger.error({ err, channel }, 'broker unsubscribe failed'));
  }

  // ---- NodeApi ----

  private targets(target: UserTarget): Client[] {
    const out: Client[] = [];
    for (const c of this.hub.userClients(target.user)) {
      if (target.client && c.id !== target.client) continue;
      if (target.session && c.sessionId !== target.session) continue;
      out.push(c);
    }
    return out;
  }

  publish(channel: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishResult> {
    this.metrics.brokerSent('publication');
    return this.broker.publish(channel, data, options);
  }

  /** Subscribes the user's connections on every node (this one at once, others via control). */
  async subscribe(target: UserTarget, channel: string, options: ServerSubscribeOptions = {}): Promise<void> {
    await Promise.all([
      this.localSubscribe(target, channel, options),
      this.cluster.publish({ type: 'subscribe', target, channel, options }),
    ]);
  }

  async unsubscribe(target: UserTarget, channel: string): Promise<void> {
    this.localUnsubscribe(target, channel);
    await this.cluster.publish({ type: 'unsubscribe', target, channel });
  }

  async disconnect(target: UserTarget, d: Disconnect, whitelist: string[] = []): Promise<void> {
    this.localDisconnect(target, d, whitelist);
    await this.cluster.publish({ type: 'disconnect', target, disconnect: d, whitelist });
  }

  async refresh(target: UserTarget, options: RefreshUserOptions): Promise<void> {
    this.localRefresh(target, options);
    await this.cluster.publish({ type: 'refresh', target, options });
  }

  /**
   * Hands client→server commands to the emulation session `session` on node `nodeUid`: applied
   * here when this is that node, otherwise sent over the controller (at most once). Resolves
   * false, sending nothing, when `nodeUid` is no live node of the cluster.
   */
  async routeSessionData(nodeUid: string, session: string, data: Uint8Array): Promise<boolean> {
    if (nodeUid === this.uid) {
      this.onSessionData(session, data);
      return true;
    }
    if (!this.cluster.liveNodes().some((n) => n.uid === nodeUid)) return false;
    await this.cluster.publish({ type: 'session', session, data }, nodeUid);
    return true;
  }

  private async localSubscribe(
    target: UserTarget,
    channel: string,
    options: ServerSubscribeOptions,
  ): Promise<void> {
    await Promise.all(this.targets(target).map((c) => c.serverSubscribe(channel, options)));
  }

  private localUnsubscribe(target: UserTarget, channel: string): void {
    for (const c of this.targets(target)) c.serverUnsubscribe(channel);
  }

  private localDisconnect(target: UserTarget, d: Disconnect, whitelist: string[]): void {
    for (const c of this.targets(target)) {
      if (whitelist.includes(c.id)) continue;
      c.disconnect(d);
    }
  }

  private localRefresh(target: UserTarget, options: RefreshUserOptions): void {
    for (const c of this.targets(target)) c.serverRefresh(options);
  }

  /** A user operation another node published. */
  private applyControl(msg: ControlMessage): void {
    switch (msg.type) {
      case 'subscribe':
        void this.localSubscribe(msg.target, msg.channel, msg.options);
        return;
      case 'unsubscribe':
        this.localUnsubscribe(msg.target, msg.channel);
        return;
      case 'disconnect':
        this.localDisconnect(msg.target, msg.disconnect, msg.whitelist);
        return;
      case 'refresh':
        this.localRefresh(msg.target, msg.options);
        return;
      case 'session':
        this.onSessionData(msg.session, msg.data);
        return;
      default:
        return;
    }
  }

  private async answerSurvey(op: string): Promise<unknown> {
    if (op === 'channels') return this.hub.channelCounts();
    throw new Error(`unknown survey op ${op}`);
  }

  presence(channel: string): Promise<Record<string, ClientInfo>> {
    this.metrics.action('presence');
    return this.presenceManager.presence(channel);
  }

  presenceStats(channel: string): Promise<PresenceStats> {
    this.metrics.action('presence_stats');
    return this.presenceManager.stats(channel);
  }

  history(
    channel: string,
    query: { limit: number; since?: StreamPosition; reverse?: boolean; metaTtl?: number },
  ): Promise<HistoryResult> {
    this.metrics.action('history');
    return this.broker.history(channel, query);
  }

  removeHistory(channel: string): Promise<void> {
    this.metrics.action('history_remove');
    return this.broker.removeHistory(channel);
  }

  /** Active channels of every live node, subscriber counts summed. */
  async channels(): Promise<Record<string, ChannelSummary>> {
    const out: Record<string, ChannelSummary> = {};
    const add = (counts: Record<string, number>): void => {
      for (const [ch, n] of Object.entries(counts)) {
        const cur = out[ch];
        if (cur) cur.numClients += n;
        else out[ch] = { numClients: n };
      }
    };
    add(this.hub.channelCounts());
    this.metrics.action('survey');
    const started = this.metrics.now();
    const answers = await this.cluster.survey('channels');
    this.metrics.surveyDone('channels', started);
    for (const r of answers) {
      if (r !== null && typeof r === 'object') add(r as Record<string, number>);
    }
    return out;
  }

  /** Every live node's figures, this node first. */
  async info(): Promise<NodeInfo[]> {
    return this.cluster.liveNodes();
  }

  private localInfo(): NodeInfo {
    return {
      uid: this.uid,
      name: this.name,
      version: this.version,
      numClients: this.hub.numClients,
      numUsers: this.hub.numUsers,
      numSubs: this.hub.numSubs,
      numChannels: this.hub.numChannels,
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
