import { noopLogger, type Logger } from '../../core/logger.js';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublishOptions,
  PublishResult,
} from '../../core/broker.js';
import { newEpoch } from '../../core/memory/stream.js';
import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { ClientInfo, Publication } from '../../protocol/types.js';
import {
  decodeBody,
  decodeMessage,
  encodeBody,
  encodeJoinLeave,
  encodePlainPublication,
} from './envelope.js';
import { KeyLayout, runScript } from './keys.js';
import { shardIndex, type RedisShard } from './shard.js';

export interface RedisBrokerOptions {
  /** The shards channels are spread over (consistent hashing by channel); at least one. */
  shards: RedisShard[];
  /** Key and PUB/SUB channel prefix. Default `centrifugo`. */
  prefix?: string;
  /** Keep history in lists instead of streams (Centrifugo's `history_use_lists`). */
  useLists?: boolean;
  /** Idempotent result TTL (ms) when a publish gives none. Default 5 minutes. */
  idempotentResultTtl?: number;
  logger?: Logger;
}

/**
 * Broker over Redis: PUB/SUB delivers, streams (or lists) keep history, a hash keeps the stream
 * meta (epoch, top offset, version). A publish is one Lua script doing idempotency check, version
 * check, append, meta update and PUBLISH atomically, so subscribers see stream order. Stream TTL,
 * meta TTL and epochs behave as in the memory broker (see `Broker` in src/core/broker.ts).
 *
 * `run()` starts the PUB/SUB subscriber of every shard (with the liveness probe); `close()`
 * unsubscribes this broker's channels and releases the shards (closing their connections when
 * nothing else uses them).
 */
export class RedisBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly shards: RedisShard[];
  private readonly keys: KeyLayout;
  private readonly lists: boolean;
  private readonly idemTtl: number;
  private readonly clientPrefixLen: number;
  private readonly subscribed = new Set<string>();
  private readonly logger: Logger;
  private closed = false;
  private readonly onMessage = (name: string, msg: Buffer): void => this.dispatch(name, msg);

  constructor(options: RedisBrokerOptions) {
    if (options.shards.length === 0) throw new Error('RedisBroker needs at least one shard');
    this.shards = options.shards.map((s) => s.acquire());
    this.keys = new KeyLayout(options.prefix ?? 'centrifugo');
    this.lists = options.useLists ?? false;
    this.idemTtl = options.idempotentResultTtl ?? 300_000;
    this.clientPrefixLen = this.keys.pubsub('').length;
    this.logger = options.logger ?? noopLogger;
  }

  private shardFor(channel: string): RedisShard {
    return this.shards[shardIndex(channel, this.shards.length)] as RedisShard;
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    for (const s of this.shards) s.startSubscriber();
  }

  private dispatch(name: string, raw: Buffer): void {
    const h = this.handler;
    if (!h) return;
    const channel = name.slice(this.clientPrefixLen);
    let msg;
    try {
      msg = decodeMessage(raw);
    } catch (err) {
      this.logger.warn({ channel, err: (err as Error).message }, 'malformed redis broker message');
      return;
    }
    if (msg.kind === 'pub') {
      h.onPublication(channel, msg.pub, { offset: msg.offset, epoch: msg.epoch }, msg.useDelta, msg.prevPub);
    } else if (msg.kind === 'join') h.onJoin(channel, msg.info);
    else h.onLeave(channel, msg.info);
  }

  private byShard(channels: string[]): Map<RedisShard, string[]> {
    const out = new Map<RedisShard, string[]>();
    for (const ch of channels) {
      const s = this.shardFor(ch);
      let list = out.get(s);
      if (!list) out.set(s, (list = []));
      list.push(this.keys.pubsub(ch));
    }
    return out;
  }

  async subscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.add(ch);
    await Promise.all([...this.byShard(channels)].map(([s, names]) => s.subscribe(names, this.onMessage)));
  }

  async unsubscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.delete(ch);
    await Promise.all([...this.byShard(channels)].map(([s, names]) => s.unsubscribe(names)));
  }

  async publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const shard = this.shardFor(channel);
    const body = encodeBody(data, options.clientInfo, options.tags);
    const size = options.historySize ?? 0;
    const ttl = options.historyTtl ?? 0;
    const withHistory = size > 0 && ttl > 0;
    const idemTtl = options.idempotencyKey ? options.idempotentResultTtl || this.idemTtl : 0;
    if (!withHistory && idemTtl === 0) {
      await shard.client.publish(this.keys.pubsub(channel), encodePlainPublication(body));
      return { offset: 0, epoch: '' };
    }
    const reply = (await runScript(
      shard,
      'gyrePublish',
      this.keys.stream(channel, this.lists),
      this.keys.meta(channel),
      this.keys.idempotency(channel, options.idempotencyKey ?? ''),
      this.keys.pubsub(channel),
      body,
      withHistory ? size : 0,
      ttl,
      options.historyMetaTtl ?? 0,
      newEpoch(),
      this.lists ? '1' : '0',
      idemTtl,
      options.version ?? 0,
      options.versionEpoch ?? '',
      options.useDelta ? '1' : '0',
      '1',
    )) as [number, Buffer, number];
    const result: PublishResult = { offset: Number(reply[0]), epoch: reply[1].toString('utf8') };
    if (reply[2] === 1) result.suppressed = true;
    return result;
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.shardFor(channel).client.publish(this.keys.pubsub(channel), encodeJoinLeave('j', info));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.shardFor(channel).client.publish(this.keys.pubsub(channel), encodeJoinLeave('l', info));
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const since = query.since;
    const reverse = query.reverse ?? false;
    const limit = query.limit;
    let dir: 'f' | 'r' | 'n' = reverse ? 'r' : 'f';
    let start = reverse ? '+' : '-';
    // Forward reads since a position fetch at least one entry: it tells whether the publication
    // right after `since` is still retained.
    let count = limit > 0 ? limit : -1;
    if (since) {
      if (reverse) {
        if (since.offset <= 1) dir = 'n';
        else start = `(${since.offset}-0`;
      } else {
        start = `${since.offset + 1}-0`;
        if (limit === 0) count = 1;
      }
    }
    if (limit === 0 && !(since && !reverse)) dir = 'n';
    const reply = (await runScript(
      this.shardFor(channel),
      'gyreHistory',
      this.keys.stream(channel, this.lists),
      this.keys.meta(channel),
      newEpoch(),
      query.metaTtl ?? 0,
      this.lists ? '1' : '0',
      dir,
      start,
      count,
    )) as [Buffer, number, unknown[]];
    const epoch = reply[0].toString('utf8');
    const top = Number(reply[1]);
    if (since && ((since.epoch !== '' && since.epoch !== epoch) || since.offset > top)) {
      throw new ClientError(ErrorCode.unrecoverablePosition);
    }
    let pubs = this.lists
      ? this.fromList(reply[2] as Buffer[], since?.offset, reverse)
      : (reply[2] as [Buffer, Buffer[]][]).map(streamEntry);
    if (since && !reverse && since.offset < top) {
      const first = this.lists ? this.oldestInList(reply[2] as Buffer[]) : pubs[0]?.offset;
      if (first === undefined || first > since.offset + 1) {
        throw new ClientError(ErrorCode.unrecoverablePosition);
      }
    }
    if (limit === 0) pubs = [];
    else if (limit > 0 && pubs.length > limit) pubs = pubs.slice(0, limit);
    return { publications: pubs, offset: top, epoch };
  }

  /** List items are newest first; selects like the memory broker does. */
  private fromList(items: Buffer[], since: number | undefined, reverse: boolean): Publication[] {
    const all = items.map(listItem);
    if (!reverse) all.reverse();
    if (since === undefined) return all;
    return all.filter((p) => (reverse ? (p.offset ?? 0) < since : (p.offset ?? 0) > since));
  }

  private oldestInList(items: Buffer[]): number | undefined {
    const last = items[items.length - 1];
    return last ? listItem(last).offset : undefined;
  }

  async removeHistory(channel: string): Promise<void> {
    await this.shardFor(channel).client.del(this.keys.stream(channel, this.lists));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    const channels = [...this.subscribed];
    this.subscribed.clear();
    await Promise.all(
      [...this.byShard(channels)].map(async ([s, names]) => {
        if (s.shared) await s.unsubscribe(names).catch(() => {});
      }),
    );
    await Promise.all(this.shards.map((s) => s.release()));
  }
}

function streamEntry(e: [Buffer, Buffer[]]): Publication {
  const pub = decodeBody(Buffer.from(e[1][1] ?? Buffer.alloc(1)));
  pub.offset = parseInt(e[0].toString('latin1'), 10);
  return pub;
}

function listItem(item: Buffer): Publication {
  const sep = item.indexOf(0x3a /* : */);
  const pub = decodeBody(Buffer.from(item.subarray(sep + 1)));
  pub.offset = parseInt(item.toString('latin1', 0, sep), 10);
  return pub;
}
