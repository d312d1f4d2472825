import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { ClientInfo, Publication } from '../../protocol/types.js';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublishOptions,
  PublishResult,
} from '../broker.js';
import { MemoryStream } from './stream.js';

export interface MemoryBrokerOptions {
  /** Clock (ms), replaceable in tests. */
  now?: () => number;
  /** Default idempotent result TTL (ms) when a publish gives none. Default 5 minutes. */
  idempotentResultTtl?: number;
  /** How often (ms) expired streams and idempotency keys are swept. Default 60000. */
  sweepInterval?: number;
}

interface IdempotentEntry {
  result: PublishResult;
  expireAt: number;
}

/**
 * Single-process broker: channel streams live in memory, delivery is a synchronous call into the
 * node (so append + deliver is trivially atomic per channel). Expiry is checked lazily on access
 * and by one sweep interval per broker (never a timer per channel).
 */
export class MemoryBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly subscribed = new Set<string>();
  private readonly streams = new Map<string, MemoryStream>();
  private readonly idempotent = new Map<string, IdempotentEntry>();
  private readonly now: () => number;
  private readonly idempotentTtl: number;
  private readonly sweepEvery: number;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: MemoryBrokerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.idempotentTtl = options.idempotentResultTtl ?? 300_000;
    this.sweepEvery = options.sweepInterval ?? 60_000;
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    if (!this.sweeper) {
      this.sweeper = setInterval(() => this.sweep(), this.sweepEvery);
      this.sweeper.unref();
    }
  }

  async subscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.add(ch);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.delete(ch);
  }

  /** The live stream of a channel, forgetting it when its meta expired. */
  private stream(channel: string, now: number, create: boolean): MemoryStream | undefined {
    let s = this.streams.get(channel);
    if (s && s.metaExpired(now)) {
      this.streams.delete(channel);
      s = undefined;
    }
    if (!s && create) {
      s = new MemoryStream();
      this.streams.set(channel, s);
    }
    s?.expire(now);
    return s;
  }

  async publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const now = this.now();
    const idemKey = options.idempotencyKey ? `${channel}\u0000${options.idempotencyKey}` : undefined;
    if (idemKey !== undefined) {
      const prev = this.idempotent.get(idemKey);
      if (prev && prev.expireAt > now) return { ...prev.result, suppressed: true };
    }
    const pub: Publication = { data };
    if (options.clientInfo) pub.info = options.clientInfo;
    if (options.tags && Object.keys(options.tags).length > 0) pub.tags = options.tags;

    const size = options.historySize ?? 0;
    const ttl = options.historyTtl ?? 0;
    let result: PublishResult;
    if (size > 0 && ttl > 0) {
      const s = this.stream(channel, now, true) as MemoryStream;
      const version = options.version ?? 0;
      if (version > 0) {
        const vEpoch = options.versionEpoch ?? '';
        if (vEpoch === s.versionEpoch && version <= s.version) {
          return { offset: s.top, epoch: s.epoch, suppressed: true };
        }
        s.version = version;
        s.versionEpoch = vEpoch;
      }
      const prevPub = options.useDelta ? s.publications[s.publications.length - 1] : undefined;
      s.append(pub, size, ttl, now);
      s.touchMeta(now, options.historyMetaTtl);
      result = { offset: s.top, epoch: s.epoch };
      // Delivery happens in the same synchronous step as the append: order = stream order.
      if (this.subscribed.has(channel)) {
        this.handler?.onPublication(
          channel,
          pub,
          { offset: s.top, epoch: s.epoch },
          options.useDelta ?? false,
          prevPub,
        );
      }
    } else {
      result = { offset: 0, epoch: '' };
      if (this.subscribed.has(channel)) {
        this.handler?.onPublication(channel, pub, { offset: 0, epoch: '' }, false);
      }
    }
    if (idemKey !== undefined) {
      this.idempotent.set(idemKey, {
        result,
        expireAt: now + (options.idempotentResultTtl || this.idempotentTtl),
      });
    }
    return result;
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    if (this.subscribed.has(channel)) this.handler?.onJoin(channel, info);
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    if (this.subscribed.has(channel)) this.handler?.onLeave(channel, info);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const now = this.now();
    const s = this.stream(channel, now, true) as MemoryStream;
    s.touchMeta(now, query.metaTtl);
    const since = query.since;
    let selected: Publication[];
    if (since) {
      if ((since.epoch !== '' && since.epoch !== s.epoch) || since.offset > s.top) {
        throw new ClientError(ErrorCode.unrecoverablePosition);
      }
      if (query.reverse) {
        selected = s.publications.filter((p) => (p.offset ?? 0) < since.offset).reverse();
      } else {
        if (since.offset < s.top && s.oldestOffset() > since.offset + 1) {
          throw new ClientError(ErrorCode.unrecoverablePosition);
        }
        selected = s.publications.filter((p) => (p.offset ?? 0) > since.offset);
      }
    } else {
      selected = query.reverse ? s.publications.slice().reverse() : s.publications.slice();
    }
    if (query.limit === 0) selected = [];
    else if (query.limit > 0 && selected.length > query.limit) selected = selected.slice(0, query.limit);
    return { publications: selected, offset: s.top, epoch: s.epoch };
  }

  async removeHistory(channel: string): Promise<void> {
    const s = this.stream(channel, this.now(), false);
    if (s) s.publications = [];
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Forgets expired streams and idempotency results. */
  sweep(): void {
    const now = this.now();
    for (const [ch, s] of this.streams) {
      if (s.metaExpired(now)) this.streams.delete(ch);
      else s.expire(now);
    }
    for (const [k, e] of this.idempotent) if (e.expireAt <= now) this.idempotent.delete(k);
  }
}
