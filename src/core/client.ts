import { randomFillSync } from 'node:crypto';
import { nowSec, ttlUntil } from './time.js';
import type { Codec } from '../protocol/codec.js';
import {
  ClientError,
  DisconnectCode,
  DisconnectError,
  ErrorCode,
  type Disconnect,
} from '../protocol/codes.js';
import type {
  ClientInfo,
  Command,
  ConnectRequest,
  ConnectResult,
  FilterNode,
  Publication,
  Push,
  Reply,
  SubscribeResult,
} from '../protocol/types.js';
import {
  handleHistory,
  handlePresence,
  handlePresenceStats,
  handlePublish,
  handleRefresh,
  handleRPC,
  handleSend,
  handleSubRefresh,
} from './client-commands.js';
import {
  activateSubscription,
  handleSubscribe,
  handleUnsubscribe,
  removeSubscription,
  serverSubscribe,
  subscribeAtConnect,
} from './client-subscribe.js';
import { CommandSlots } from './client-slots.js';
import type { DeltaPush } from './delta/push.js';
import { variantOf, type EncodedPush, type Variant } from './encoded.js';
import { matchFilter } from './filter.js';
import { streamTop } from './recovery.js';
import type {
  ClientView,
  ConnectingEvent,
  ConnectingResult,
  RefreshUserOptions,
  ServerSubscribeOptions,
  SubscribeOptions,
} from './handlers.js';
import type { Node } from './node.js';
import type { TimerTask } from './timers.js';
import type { ConnectionMeta, Transport } from './transport.js';
import { Writer } from './writer.js';

const SERVER_UNSUBSCRIBE = { code: 2000, reason: 'server unsubscribe' };

/** A push held back until the subscribe reply of its channel is written. */
export interface BufferedPush {
  /** Stream offset (0 for join/leave and streams without history). */
  offset: number;
  /** Absent for a publication the tags filter rejected (it still counts for continuity). */
  bytes: Uint8Array | undefined;
  /** Set instead of `bytes` for a delta subscription: the form is chosen when released. */
  delta?: DeltaPush;
}

/** One channel subscription of a connection. */
export interface ChannelSub {
  /** The subscribed connection (the hub's channel index holds subscriptions, not clients). */
  readonly client: Client;
  readonly channel: string;
  readonly serverSide: boolean;
  readonly options: SubscribeOptions;
  readonly filter: FilterNode | undefined;
  /** Offsets are tracked (recovery or positioning on): a gap ends the subscription. */
  readonly positioned: boolean;
  /** Last stream offset seen and the stream epoch (positioned subscriptions). */
  offset: number;
  epoch: string;
  /** Stream top that a position check found ahead of `offset` (0 = none). */
  suspectTop: number;
  /** Info of this client in the channel (presence, join/leave, its publications). */
  info: ClientInfo;
  /** Unix seconds; 0 = never. */
  expireAt: number;
  expireTask: TimerTask | undefined;
  /** Set while the subscribe reply is not written yet: pushes wait here. */
  buffer: BufferedPush[] | undefined;
  /** Fossil delta negotiated: JSON payloads travel as strings, deltas may replace them. */
  readonly delta: boolean;
  /** Offset of the publication the client holds as its delta base (0 = none: next is full). */
  deltaOffset: number;
}

type State = 'new' | 'connecting' | 'connected' | 'closed';

const RESOLVED: Promise<void> = Promise.resolve();

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const uuidPool = Buffer.allocUnsafe(16 * 128);
let uuidPoolAt = uuidPool.length;
const uuidText = Buffer.allocUnsafe(36);

/**
 * A random (version 4) UUID as one flat string. `crypto.randomUUID()` builds its result by
 * concatenation, and V8 keeps such a string as a tree of ~18 pieces (~600 bytes) for as long as
 * it lives; a client id lives as long as its connection. Random bytes come from a pool refilled
 * 128 ids at a time, as `randomUUID` does.
 */
function newUuid(): string {
  if (uuidPoolAt === uuidPool.length) {
    randomFillSync(uuidPool);
    uuidPoolAt = 0;
  }
  const o = uuidPoolAt;
  uuidPoolAt += 16;
  let p = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidText[p++] = 0x2d;
    let v = uuidPool[o + i] as number;
    if (i === 6) v = (v & 0x0f) | 0x40;
    else if (i === 8) v = (v & 0x3f) | 0x80;
    uuidText[p++] = HEX[v >> 4] as number;
    uuidText[p++] = HEX[v & 15] as number;
  }
  return uuidText.toString('latin1', 0, 36);
}

/**
 * Commands of one connection read and waiting for the ones before them, beyond which the
 * transport stops reading from the client until half of them have started.
 */
export const MAX_QUEUED_COMMANDS = 256;

const connectionClosed: Disconnect = { code: DisconnectCode.connectionClosed, reason: 'connection closed' };
const badRequest: Disconnect = { code: DisconnectCode.badRequest, reason: 'bad request' };

/**
 * Slot bookkeeping of connections of nodes with `concurrency` > 1. Kept off the Client object so
 * connections processing commands one by one (the default) carry no memory for it.
 */
const commandSlots = new WeakMap<Client, CommandSlots>();

/** Channel of a subscription command (kept in order per channel when commands run concurrently). */
function subscriptionChannel(kind: string, cmd: Command): string | undefined {
  if (kind === 'subscribe') return cmd.subscribe?.channel;
  if (kind === 'unsubscribe') return cmd.unsubscribe?.channel;
  if (kind === 'sub_refresh') return cmd.sub_refresh?.channel;
  return undefined;
}

/** The first present request field, in the order the protocol dispatches them. */
function commandKind(cmd: Command): string | undefined {
  if (cmd.connect) return 'connect';
  if (cmd.subscribe) return 'subscribe';
  if (cmd.unsubscribe) return 'unsubscribe';
  if (cmd.publish) return 'publish';
  if (cmd.presence) return 'presence';
  if (cmd.presence_stats) return 'presence_stats';
  if (cmd.history) return 'history';
  if (cmd.rpc) return 'rpc';
  if (cmd.send) return 'send';
  if (cmd.refresh) return 'refresh';
  if (cmd.sub_refresh) return 'sub_refresh';
  return undefined;
}

/**
 * One client session: the protocol state machine of a connection (connect, commands, pings,
 * expiry) on top of a Transport. Created by `Node.handleTransport`.
 *
 * Commands of one connection are processed one after another, in arrival order, unless
 * `client.concurrency` (ClientOptions.concurrency) is above 1. Then they still start in arrival
 * order (also within one frame), but up to that many run at once and their replies go out as each
 * finishes (matched by command id). When the limit is reached the next command, and everything
 * behind it, waits for a running one to finish. Connect is always processed alone, before anything
 * else; subscribe, unsubscribe and sub_refresh of one channel wait for the previous one of that
 * channel, so they take effect in the order sent. Commands not started when the connection closes
 * are dropped; running ones finish without writing anything.
 */
export class Client implements ClientView {
  readonly id = newUuid();
  readonly transportName: string;
  readonly protocol: 'json' | 'protobuf';
  readonly connMeta: ConnectionMeta;
  readonly codec: Codec;
  readonly writer: Writer;
  readonly variant: Variant;
  readonly subs = new Map<string, ChannelSub>();
  userId = '';
  info: Uint8Array | undefined;
  meta: Record<string, unknown> | undefined;
  /** Connection expiry, unix seconds; 0 = never. */
  expireAt = 0;
  serverSideRefresh = false;
  state: State = 'new';
  private chain: Promise<void> = RESOLVED;
  /** Commands read and not started yet (see `commandQueued`). */
  private queuedCommands = 0;
  private readingPaused = false;
  /** Created on first use: only emulation and unidirectional clients are told theirs. */
  private session: string | undefined;
  private pingOutstanding = false;
  private staleTask: TimerTask | undefined;
  private pingTask: TimerTask | undefined;
  private pongTask: TimerTask | undefined;
  /** When the outstanding ping went out (`metrics.now()`; 0 when metrics are off). */
  private pingSentAt = 0;
  private expireTask: TimerTask | undefined;
  private presenceTask: TimerTask | undefined;
  private positionTask: TimerTask | undefined;

  constructor(
    readonly node: Node,
    readonly transport: Transport,
    meta: ConnectionMeta,
  ) {
    this.transportName = transport.name;
    this.protocol = transport.protocol;
    this.connMeta = meta;
    this.codec = node.codecFor(transport.protocol);
    this.variant = variantOf(transport.protocol, transport.unidirectional);
    const o = node.clientOptions;
    if (o.concurrency > 1 && !transport.unidirectional)
      commandSlots.set(this, new CommandSlots(o.concurrency));
    this.writer = new Writer(transport, node.writerOptions, this, node.metrics.sentTally(transport.name));
    node.connections.add(this);
    // Emulation requests find their connection by session (the connect result tells it).
    if (transport.emulation || transport.unidirectional) node.sessions.set(this.sessionId, this);
    if (o.staleCloseDelay > 0)
      this.staleTask = node.wheel.scheduleCall(o.staleCloseDelay, Client.onStale, this);
  }

  /** @internal WriterOwner: the outgoing queue went over `client.queue_max_size`. */
  writerOverflow(): void {
    this.disconnect({ code: DisconnectCode.slow, reason: 'slow' });
  }

  /** @internal WriterOwner: the transport refused a write. */
  writerFailed(err: unknown): void {
    this.node.logger.info({ err, client: this.id }, 'transport write failed');
    this.disconnect({ code: DisconnectCode.writeError, reason: 'write error' });
  }

  /** Session id: unique per connection, stable for its lifetime. */
  get sessionId(): string {
    return (this.session ??= newUuid());
  }

  // Timer callbacks: shared functions called with the client, so no closure per connection.
  private static onStale(this: void, c: Client): void {
    if (c.state === 'new' || c.state === 'connecting') {
      c.disconnect({ code: DisconnectCode.stale, reason: 'stale' });
    }
  }
  private static onPing(this: void, c: Client): void {
    c.sendPing();
  }
  private static onPongTimeout(this: void, c: Client): void {
    if (c.pingOutstanding) c.disconnect({ code: DisconnectCode.noPong, reason: 'no pong' });
  }
  private static onPresenceTimer(this: void, c: Client): void {
    c.updatePresence();
  }
  private static onPositionTimer(this: void, c: Client): void {
    c.checkPositions();
  }
  private static onExpire(this: void, c: Client): void {
    if (c.expireAt > 0 && c.expireAt * 1000 <= Date.now()) {
      c.disconnect({ code: DisconnectCode.expired, reason: 'connection expired' });
    }
  }
  private static onServerRefresh(this: void, c: Client): void {
    void c.refreshServerSide();
  }

  // ---- ClientView ----

  get isAnonymous(): boolean {
    return this.userId === '';
  }
  channels(): string[] {
    return [...this.subs.keys()];
  }
  isSubscribed(channel: string): boolean {
    return this.subs.has(channel);
  }

  /** This client's info in a channel (with `chan_info` of that subscription when subscribed). */
  clientInfo(channel?: string): ClientInfo {
    const info: ClientInfo = { user: this.userId, client: this.id };
    if (this.info !== undefined) info.conn_info = this.info;
    const chanInfo = channel === undefined ? undefined : this.subs.get(channel)?.options.channelInfo;
    if (chanInfo !== undefined) info.chan_info = chanInfo;
    return info;
  }

  // ---- incoming ----

  /** Feeds one incoming frame (one or more encoded commands). */
  handleData(frame: Uint8Array): void {
    if (this.state === 'closed' || this.transport.unidirectional) return;
    let commands: Command[];
    try {
      commands = this.codec.decodeCommands(frame);
    } catch (err) {
      this.node.logger.info({ err, client: this.id }, 'malformed frame');
      this.disconnect(badRequest);
      return;
    }
    if (commands.length === 0) {
      this.disconnect(badRequest);
      return;
    }
    this.node.metrics.commandsReceived(this.transportName, commands, frame.length);
    for (const cmd of commands) {
      if (!this.accept(cmd)) return;
    }
  }

  /** Applies the command rules (§4); false when the connection was closed. */
  private accept(cmd: Command): boolean {
    const id = cmd.id ?? 0;
    if (id === 0 && cmd.send === undefined) {
      // Whatever else it holds, an id-less command without `send` is a pong.
      if (!this.pingOutstanding) {
        this.disconnect(badRequest);
        return false;
      }
      this.pingOutstanding = false;
      // Kept (cancelled) to be re-armed by the next ping: no task allocated per ping.
      this.pongTask?.cancel();
      if (this.pingSentAt > 0) this.node.metrics.pingPong(this.transportName, this.pingSentAt);
      return true;
    }
    const kind = commandKind(cmd);
    if (this.state === 'new') {
      if (kind !== 'connect') {
        this.disconnect(badRequest);
        return false;
      }
      this.state = 'connecting';
      const req = cmd.connect as ConnectRequest;
      this.chain = this.chain.then(() => this.runConnect(id, req));
      return true;
    }
    if (kind === undefined || kind === 'connect') {
      this.disconnect(badRequest);
      return false;
    }
    const slots = this.node.clientOptions.concurrency > 1 ? commandSlots.get(this) : undefined;
    this.commandQueued();
    this.chain = this.chain.then(() => {
      this.commandStarted();
      if (slots !== undefined) return this.startConcurrent(slots, id, kind, cmd);
      return this.state === 'connected' ? this.exec(id, kind, cmd) : undefined;
    });
    return true;
  }

  /**
   * A command was read and waits for the ones before it. At {@link MAX_QUEUED_COMMANDS} waiting
   * the transport stops reading (where it can), so a client that sends faster than its commands
   * complete is held back by TCP, as a blocking reader would hold it, instead of growing the queue.
   */
  private commandQueued(): void {
    if (++this.queuedCommands >= MAX_QUEUED_COMMANDS && !this.readingPaused) {
      const t = this.transport;
      if (t.pauseReading !== undefined) {
        this.readingPaused = true;
        t.pauseReading();
      }
    }
  }

  /** A queued command started; reading resumes once half the queue limit is free again. */
  private commandStarted(): void {
    this.queuedCommands--;
    if (this.readingPaused && this.queuedCommands <= MAX_QUEUED_COMMANDS / 2) {
      this.readingPaused = false;
      this.transport.resumeReading?.();
    }
  }

  /**
   * Concurrent mode: starts the command once a slot is free without waiting for it to finish.
   * The returned promise (a slot wait) holds back the commands behind this one.
   */
  private startConcurrent(
    slots: CommandSlots,
    id: number,
    kind: string,
    cmd: Command,
  ): Promise<void> | undefined {
    if (this.state !== 'connected') return undefined;
    const wait = slots.acquire();
    if (wait === undefined) {
      this.runInSlot(slots, id, kind, cmd);
      return undefined;
    }
    return wait.then(() => {
      if (this.state !== 'connected') slots.release();
      else this.runInSlot(slots, id, kind, cmd);
    });
  }

  private runInSlot(slots: CommandSlots, id: number, kind: string, cmd: Command): void {
    const channel = subscriptionChannel(kind, cmd);
    const p =
      channel === undefined
        ? this.exec(id, kind, cmd)
        : slots.inChannelOrder(channel, () =>
            this.state === 'connected' ? this.exec(id, kind, cmd) : RESOLVED,
          );
    void p.then(() => slots.release());
  }

  private dispatch(id: number, kind: string, cmd: Command): Promise<void> {
    switch (kind) {
      case 'subscribe':
        return handleSubscribe(this, id, cmd.subscribe ?? {});
      case 'unsubscribe':
        return handleUnsubscribe(this, id, cmd.unsubscribe ?? {});
      case 'publish':
        return handlePublish(this, id, cmd.publish ?? {});
      case 'presence':
        return handlePresence(this, id, cmd.presence ?? {});
      case 'presence_stats':
        return handlePresenceStats(this, id, cmd.presence_stats ?? {});
      case 'history':
        return handleHistory(this, id, cmd.history ?? {});
      case 'rpc':
        return handleRPC(this, id, cmd.rpc ?? {});
      case 'send':
        return handleSend(this, cmd.send ?? {});
      case 'refresh':
        return handleRefresh(this, id, cmd.refresh ?? {});
      default:
        return handleSubRefresh(this, id, cmd.sub_refresh ?? {});
    }
  }

  /** Runs a command, turning thrown errors into replies or disconnects. Never rejects. */
  private async exec(id: number, kind: string, cmd: Command): Promise<void> {
    const started = this.node.metrics.now();
    try {
      await this.dispatch(id, kind, cmd);
    } catch (err) {
      try {
        this.commandError(id, err, kind);
      } catch (err2) {
        this.node.logger.error({ err: err2, client: this.id }, 'command error handling failed');
      }
    }
    this.node.metrics.commandDone(kind, started);
  }

  /** Maps a handler/broker failure of command `id` to the wire (see NodeHandlers). */
  commandError(id: number, err: unknown, method = ''): void {
    if (this.state === 'closed') return;
    if (err instanceof DisconnectError) {
      this.disconnect({ code: err.code, reason: err.reason });
    } else if (err instanceof ClientError) {
      this.node.metrics.replyError(method, err.code);
      this.writeReply({ id, error: err.toWire() });
    } else {
      this.node.logger.error({ err, client: this.id, user: this.userId }, 'command failed');
      this.node.metrics.replyError(method, ErrorCode.internal);
      this.writeReply({ id, error: new ClientError(ErrorCode.internal).toWire() });
    }
  }

  // ---- connect ----

  /** Connects a unidirectional client with its bare ConnectRequest (sent once by the transport). */
  connectUnidirectional(req: ConnectRequest): Promise<void> {
    if (this.state !== 'new') return Promise.resolve();
    this.state = 'connecting';
    this.chain = this.chain.then(() => this.runConnect(0, req));
    return this.chain;
  }

  private async runConnect(id: number, req: ConnectRequest): Promise<void> {
    const started = this.node.metrics.now();
    try {
      await this.connect(id, req);
    } catch (err) {
      if (this.state === 'closed') return;
      if (err instanceof DisconnectError) {
        this.disconnect({ code: err.code, reason: err.reason });
        return;
      }
      let ce: ClientError;
      if (err instanceof ClientError) ce = err;
      else {
        this.node.logger.error({ err, client: this.id }, 'connect failed');
        ce = new ClientError(ErrorCode.internal);
      }
      if (this.transport.unidirectional) {
        this.disconnect(uniConnectDisconnect(ce.code));
        return;
      }
      this.node.metrics.replyError('connect', ce.code);
      this.writeReply({ id, error: ce.toWire() });
      this.disconnect(connectionClosed);
    } finally {
      this.node.metrics.commandDone('connect', started);
    }
  }

  private async connect(id: number, req: ConnectRequest): Promise<void> {
    const node = this.node;
    const o = node.clientOptions;
    let result: ConnectingResult;
    if (node.handlers.onConnecting) {
      result = await node.handlers.onConnecting(this.connectingEvent(req));
    } else if (o.insecure) {
      result = { credentials: { userId: '' } };
    } else {
      throw new DisconnectError(DisconnectCode.badRequest);
    }
    if (this.state !== 'connecting') return;
    const cred = result.credentials;
    if (cred.expireAt !== undefined && cred.expireAt > 0 && cred.expireAt <= nowSec()) {
      throw new ClientError(ErrorCode.expired);
    }
    if (
      o.userConnectionLimit > 0 &&
      cred.userId !== '' &&
      node.hub.userConnectionCount(cred.userId) >= o.userConnectionLimit
    ) {
      throw new DisconnectError(DisconnectCode.connectionLimit);
    }
    const serverSubs = result.subscriptions ?? {};
    if (o.channelLimit > 0 && Object.keys(serverSubs).length > o.channelLimit) {
      throw new DisconnectError(DisconnectCode.channelLimit);
    }
    this.userId = cred.userId;
    this.info = cred.info;
    this.meta = cred.meta;
    this.expireAt = cred.expireAt ?? 0;
    this.serverSideRefresh = result.serverSideRefresh ?? false;
    this.state = 'connected';
    this.staleTask?.cancel();
    this.staleTask = undefined;
    node.hub.addClient(this);
    node.metrics.action('add_client');
    node.metrics.connectionAccepted(this.transportName);

    const res: ConnectResult = { client: this.id, version: node.version };
    if (this.expireAt > 0 && !this.serverSideRefresh) {
      res.expires = true;
      res.ttl = ttlUntil(this.expireAt);
    }
    if (this.transport.protocolPing && o.pingInterval > 0) {
      res.ping = Math.round(o.pingInterval / 1000);
      if (this.expectsPong) res.pong = true;
    }
    if (this.transport.emulation || this.transport.unidirectional) res.session = this.sessionId;
    if (this.transport.emulation) res.node = node.uid;
    if (o.connectIncludeServerTime) res.time = Date.now();
    if (result.data !== undefined) res.data = result.data;

    const established = await subscribeAtConnect(this, serverSubs, req.subs ?? {});
    if (this.state !== 'connected') return;
    if (established.length > 0) {
      const subs: Record<string, SubscribeResult> = {};
      for (const e of established) subs[e.sub.channel] = e.result;
      res.subs = subs;
    }
    if (this.transport.unidirectional) this.writePush({ connect: res });
    else this.writeReply({ id, connect: res });
    for (const e of established) activateSubscription(this, e);
    this.startTimers();
    try {
      node.handlers.onConnect?.(this);
    } catch (err) {
      node.logger.error({ err, client: this.id }, 'onConnect handler failed');
    }
  }

  private connectingEvent(req: ConnectRequest): ConnectingEvent {
    const ev: ConnectingEvent = {
      clientId: this.id,
      transportName: this.transportName,
      protocol: this.protocol,
      meta: this.connMeta,
    };
    if (req.token !== undefined) ev.token = req.token;
    if (req.data !== undefined) ev.data = req.data;
    if (req.name !== undefined) ev.name = req.name;
    if (req.version !== undefined) ev.version = req.version;
    if (req.headers !== undefined) ev.headers = req.headers;
    if (req.subs !== undefined) ev.subs = req.subs;
    return ev;
  }

  private get expectsPong(): boolean {
    return !this.transport.unidirectional && this.node.clientOptions.pongTimeout > 0;
  }

  // ---- outgoing ----

  /** Queues a reply (bidirectional transports only). */
  writeReply(reply: Reply): void {
    if (this.state === 'closed' || this.transport.unidirectional) return;
    this.writer.enqueue(this.codec.encodeReply(reply));
  }

  /** Queues a push: Reply-wrapped on bidirectional transports, bare on unidirectional ones. */
  writePush(push: Push): void {
    if (this.state === 'closed') return;
    this.writer.enqueue(
      this.transport.unidirectional ? this.codec.encodePush(push) : this.codec.encodeReply({ push }),
    );
  }

  /**
   * Hot path: one broadcast publication; `encoded` holds the bytes shared by all subscribers.
   * Positioned subscriptions check offset continuity: a gap or another epoch means missed
   * publications, so the subscription ends with insufficient state (the client recovers).
   */
  deliverPublication(
    sub: ChannelSub,
    pub: Publication,
    epoch: string,
    encoded: EncodedPush,
    dp?: DeltaPush,
  ): void {
    const pass = sub.filter === undefined || matchFilter(sub.filter, pub.tags);
    const offset = pub.offset ?? 0;
    const useDelta = sub.delta && dp !== undefined;
    if (sub.buffer !== undefined) {
      if (!pass) sub.buffer.push({ offset, bytes: undefined });
      else if (useDelta) sub.buffer.push({ offset, bytes: undefined, delta: dp });
      else sub.buffer.push({ offset, bytes: encoded.get(this.variant) });
      return;
    }
    if (sub.positioned && offset > 0) {
      if (offset <= sub.offset && epoch === sub.epoch) return;
      if (offset !== sub.offset + 1 || epoch !== sub.epoch) {
        this.insufficientState(sub);
        return;
      }
      sub.offset = offset;
    }
    if (!pass) return;
    this.writer.enqueue(useDelta ? this.deltaBytes(sub, offset, dp) : encoded.get(this.variant));
  }

  /**
   * The form of a publication for a delta subscription: the delta when the client holds the
   * publication it was computed against (positioned subscriptions only), else the full payload.
   * Records the publication as the client's new base.
   */
  deltaBytes(sub: ChannelSub, offset: number, dp: DeltaPush): Uint8Array {
    const hasBase = sub.positioned && sub.deltaOffset > 0 && dp.baseOffset === sub.deltaOffset;
    sub.deltaOffset = offset;
    return dp.get(this.variant, hasBase);
  }

  /** A positioned subscription missed publications: 2500 (client-side) or 3010 (server-side). */
  insufficientState(sub: ChannelSub): void {
    if (this.subs.get(sub.channel) !== sub) return;
    if (sub.serverSide) {
      this.disconnect({ code: DisconnectCode.insufficientState, reason: 'insufficient state' });
      return;
    }
    removeSubscription(this, sub.channel);
    this.node.metrics.serverUnsubscribe(2500);
    this.writePush({ channel: sub.channel, unsubscribe: { code: 2500, reason: 'insufficient state' } });
  }

  /** Hot path: a join or leave push; only for subscriptions with `pushJoinLeave`. */
  deliverJoinLeave(sub: ChannelSub, encoded: EncodedPush): void {
    if (!sub.options.pushJoinLeave) return;
    const bytes = encoded.get(this.variant);
    if (sub.buffer !== undefined) sub.buffer.push({ offset: 0, bytes });
    else this.writer.enqueue(bytes);
  }

  // ---- server-side operations (NodeApi) ----

  /** Server API subscribe: establishes the subscription and sends a subscribe push. */
  serverSubscribe(channel: string, options: ServerSubscribeOptions): Promise<void> {
    if (this.state !== 'connected') return Promise.resolve();
    return serverSubscribe(this, channel, options).catch((err: unknown) => {
      if (err instanceof DisconnectError) this.disconnect({ code: err.code, reason: err.reason });
      else this.node.logger.warn({ err, client: this.id, channel }, 'server-side subscribe failed');
    });
  }

  /** Server API unsubscribe: unsubscribe push with code 2000. */
  serverUnsubscribe(channel: string): void {
    this.unsubscribe(channel);
  }

  unsubscribe(channel: string, u: { code: number; reason: string } = SERVER_UNSUBSCRIBE): void {
    const sub = this.subs.get(channel);
    if (this.state !== 'connected' || sub === undefined) return;
    if (sub.serverSide && u.code >= 2500) {
      const code = u.code === 2501 ? DisconnectCode.subExpired : DisconnectCode.insufficientState;
      this.disconnect({
        code,
        reason: code === DisconnectCode.subExpired ? 'subscription expired' : 'insufficient state',
      });
      return;
    }
    removeSubscription(this, channel);
    this.node.metrics.serverUnsubscribe(u.code);
    this.writePush({ channel, unsubscribe: { code: u.code, reason: u.reason } });
  }

  /** Server API refresh. */
  serverRefresh(options: RefreshUserOptions): void {
    if (this.state !== 'connected') return;
    if (options.expired) {
      this.disconnect({ code: DisconnectCode.expired, reason: 'connection expired' });
      return;
    }
    if (options.info !== undefined) this.setInfo(options.info);
    if (options.expireAt !== undefined) {
      this.expireAt = options.expireAt;
      this.scheduleExpire();
      this.writePush({
        refresh: this.expireAt > 0 ? { expires: true, ttl: ttlUntil(this.expireAt) } : {},
      });
    }
  }

  /** Replaces connection info (and the copy kept in each subscription's ClientInfo). */
  setInfo(info: Uint8Array): void {
    this.info = info;
    for (const sub of this.subs.values()) sub.info = { ...sub.info, conn_info: info };
  }

  // ---- timers ----

  private startTimers(): void {
    const o = this.node.clientOptions;
    if (this.transport.protocolPing && o.pingInterval > 0) {
      const first = o.pingInterval / 2 + Math.random() * (o.pingInterval / 2);
      this.pingTask = this.node.wheel.scheduleCall(first, Client.onPing, this);
    }
    this.scheduleExpire();
  }

  /**
   * Starts the periodic presence refresh (a subscription with presence was activated). It runs
   * while the connection has such subscriptions, so connections without any cost no timer.
   */
  armPresenceUpdates(): void {
    const delay = this.node.clientOptions.presenceUpdateInterval;
    if (this.presenceTask !== undefined || delay <= 0 || this.state !== 'connected') return;
    this.presenceTask = this.node.wheel.scheduleCall(delay, Client.onPresenceTimer, this);
  }

  /** Starts the periodic position check (a positioned subscription was activated); see above. */
  armPositionChecks(): void {
    const delay = this.node.clientOptions.channelPositionCheckDelay;
    if (this.positionTask !== undefined || delay <= 0 || this.state !== 'connected') return;
    this.positionTask = this.node.wheel.scheduleCall(delay, Client.onPositionTimer, this);
  }

  /**
   * Compares positioned subscriptions with the stream top. A changed epoch, or a top that stays
   * ahead of what was delivered across two checks, means lost publications (insufficient state).
   */
  private checkPositions(): void {
    this.positionTask = undefined;
    if (this.state !== 'connected') return;
    let positioned = false;
    for (const sub of this.subs.values()) {
      if (!sub.positioned) continue;
      positioned = true;
      if (sub.buffer !== undefined) continue;
      streamTop(this.node, sub.channel, sub.options.historyMetaTtl)
        .then((pos) => {
          if (this.subs.get(sub.channel) !== sub) return;
          if (pos.epoch !== sub.epoch) this.insufficientState(sub);
          else if (pos.offset <= sub.offset) sub.suspectTop = 0;
          else if (sub.suspectTop > 0 && sub.offset < sub.suspectTop) this.insufficientState(sub);
          else sub.suspectTop = pos.offset;
        })
        .catch((err: unknown) =>
          this.node.logger.warn({ err, channel: sub.channel }, 'position check failed'),
        );
    }
    if (positioned) this.armPositionChecks();
  }

  private sendPing(): void {
    if (this.state !== 'connected') return;
    const o = this.node.clientOptions;
    const wheel = this.node.wheel;
    if (!this.pingOutstanding) {
      this.writer.enqueue(this.node.pingMessage(this.variant));
      if (this.expectsPong) {
        this.pingOutstanding = true;
        this.pingSentAt = this.node.metrics.now();
        this.pongTask = wheel.scheduleCall(o.pongTimeout, Client.onPongTimeout, this, this.pongTask);
      }
    }
    this.pingTask = wheel.scheduleCall(o.pingInterval, Client.onPing, this, this.pingTask);
  }

  /** (Re)arms the connection expiry check for `expireAt`. */
  scheduleExpire(): void {
    this.expireTask?.cancel();
    this.expireTask = undefined;
    if (this.expireAt <= 0 || this.state !== 'connected') return;
    const at = this.expireAt * 1000;
    if (this.serverSideRefresh && this.node.handlers.onRefresh) {
      this.expireTask = this.node.wheel.scheduleCallAt(at, Client.onServerRefresh, this);
      return;
    }
    const closeAt = at + this.node.clientOptions.expiredCloseDelay;
    this.expireTask = this.node.wheel.scheduleCallAt(closeAt, Client.onExpire, this);
  }

  private async refreshServerSide(): Promise<void> {
    const handlers = this.node.handlers;
    if (!handlers.onRefresh || this.state !== 'connected') return;
    try {
      const reply = await handlers.onRefresh(this, { token: '' });
      if (this.state !== 'connected') return;
      if (reply.expired) {
        this.disconnect({ code: DisconnectCode.expired, reason: 'connection expired' });
        return;
      }
      if (reply.info !== undefined) this.setInfo(reply.info);
      if (reply.meta !== undefined) this.meta = reply.meta;
      this.expireAt = reply.expireAt ?? 0;
      this.scheduleExpire();
    } catch (err) {
      if (err instanceof DisconnectError) {
        this.disconnect({ code: err.code, reason: err.reason });
        return;
      }
      this.node.logger.error({ err, client: this.id }, 'server-side refresh failed');
      // Retry through the ordinary expiry path: closes with 3005 if nothing refreshes in time.
      this.serverSideRefresh = false;
      this.scheduleExpire();
    }
  }

  private updatePresence(): void {
    this.presenceTask = undefined;
    if (this.state !== 'connected') return;
    let any = false;
    for (const sub of this.subs.values()) {
      if (!sub.options.emitPresence) continue;
      any = true;
      if (sub.buffer !== undefined) continue;
      this.node.metrics.action('add_presence');
      this.node.presenceManager
        .add(sub.channel, this.id, sub.info)
        .catch((err: unknown) =>
          this.node.logger.error({ err, channel: sub.channel }, 'presence update failed'),
        );
    }
    if (any) this.armPresenceUpdates();
  }

  // ---- closing ----

  /**
   * Closes the connection: queued messages are flushed first; emulation and unidirectional
   * transports get a disconnect push before `transport.close`.
   */
  disconnect(d: Disconnect): void {
    if (this.state === 'closed') return;
    if (d.code !== DisconnectCode.connectionClosed) this.node.metrics.serverDisconnect(d.code);
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    const t = this.transport;
    const plain: Disconnect = { code: d.code, reason: d.reason };
    if ((t.emulation || t.unidirectional) && d.code !== DisconnectCode.connectionClosed) {
      const push: Push = { disconnect: plain };
      this.writer.enqueue(t.unidirectional ? this.codec.encodePush(push) : this.codec.encodeReply({ push }));
    }
    this.writer.close(true);
    try {
      t.close(plain);
    } catch (err) {
      this.node.logger.warn({ err, client: this.id }, 'transport close failed');
    }
    this.cleanup(plain, wasConnected);
  }

  /** The socket closed (called by the transport). */
  handleClose(): void {
    if (this.state === 'closed') return;
    const wasConnected = this.state === 'connected';
    this.state = 'closed';
    this.writer.close(false);
    this.cleanup(connectionClosed, wasConnected);
  }

  private cleanup(d: Disconnect, wasConnected: boolean): void {
    if (this.node.clientOptions.concurrency > 1) commandSlots.get(this)?.wake();
    this.staleTask?.cancel();
    this.pingTask?.cancel();
    this.pongTask?.cancel();
    this.expireTask?.cancel();
    this.presenceTask?.cancel();
    this.positionTask?.cancel();
    this.node.connections.delete(this);
    const session = this.session;
    if (session !== undefined && this.node.sessions.get(session) === this) this.node.sessions.delete(session);
    for (const channel of [...this.subs.keys()]) removeSubscription(this, channel);
    this.node.hub.removeClient(this);
    if (!wasConnected) return;
    this.node.metrics.action('remove_client');
    try {
      this.node.handlers.onDisconnect?.(this, d);
    } catch (err) {
      this.node.logger.error({ err, client: this.id }, 'onDisconnect handler failed');
    }
  }
}

/** Unidirectional clients cannot get an error reply: connect errors become disconnects. */
function uniConnectDisconnect(code: number): Disconnect {
  switch (code) {
    case ErrorCode.tokenExpired:
    case ErrorCode.expired:
      return { code: DisconnectCode.expired, reason: 'connection expired' };
    case ErrorCode.tooManyRequests:
      return { code: DisconnectCode.tooManyRequests, reason: 'too many requests' };
    case ErrorCode.permissionDenied:
      return { code: DisconnectCode.permissionDenied, reason: 'permission denied' };
    default:
      return { code: DisconnectCode.serverError, reason: 'internal server error' };
  }
}
