import type { ClientInfo, Publication, StreamPosition } from '../protocol/types.js';

/** Options of one publication. Durations are milliseconds. */
export interface PublishOptions {
  /** Keep at most this many publications in the channel stream (0 = no history). */
  historySize?: number;
  /** Stream retention (ms) since the last publication (0 = no history). */
  historyTtl?: number;
  /** How long (ms) stream meta (epoch and top offset) outlives the stream. */
  historyMetaTtl?: number;
  /** Publisher info, set for client-side publications. */
  clientInfo?: ClientInfo;
  tags?: Record<string, string>;
  /** A repeated key within `idempotentResultTtl` publishes nothing and returns the first result. */
  idempotencyKey?: string;
  idempotentResultTtl?: number;
  /** Mark the publication as a candidate for delta encoding to subscribers that negotiated it. */
  useDelta?: boolean;
  /** Drop the publication when `version` is not greater than the last one in the same `versionEpoch`. */
  version?: number;
  versionEpoch?: string;
}

export interface PublishResult {
  /** Offset in the stream (0 when the channel keeps no history). */
  offset: number;
  epoch: string;
  /** True when nothing was published (idempotency key repeat or stale version). */
  suppressed?: boolean;
}

export interface HistoryQuery {
  /**
   * Return publications after this position (offset exclusive; with `reverse`: before it, newest
   * first). Rejects with `ClientError(112)` when `epoch` is non-empty and differs from the
   * stream's, when `offset` is beyond the top, or (forward reads) when publications right after
   * `offset` are no longer retained. An empty epoch matches any.
   */
  since?: StreamPosition;
  /** 0 = position only, -1 = everything (subject to the caller's caps), N = at most N. */
  limit: number;
  reverse?: boolean;
  /** Meta TTL (ms) to apply when the read creates or touches the stream meta. */
  metaTtl?: number;
}

export interface HistoryResult {
  publications: Publication[];
  /** Current stream top. */
  offset: number;
  epoch: string;
}

/** Events a broker delivers to the node. Called synchronously, in per-channel order. */
export interface BrokerEventHandler {
  /**
   * A publication arrived for a channel this node subscribed to. `pub.offset` is set for streams.
   * `prevPub` is the previous publication of the stream when `useDelta` asked for delta.
   */
  onPublication(
    channel: string,
    pub: Publication,
    sp: StreamPosition,
    useDelta: boolean,
    prevPub?: Publication,
  ): void;
  onJoin(channel: string, info: ClientInfo): void;
  onLeave(channel: string, info: ClientInfo): void;
}

/**
 * Carries publications between nodes and keeps channel streams (history).
 *
 * Contract:
 * - **Atomic append and publish.** For one channel, appending a publication to the stream and
 *   delivering it to subscribers happen as one step: subscribers observe offsets strictly
 *   increasing by one, in the order the stream stores them, and a history read that sees offset N
 *   also sees every offset below N still retained.
 * - **Offsets and epochs.** A stream is identified by its epoch, a string that changes whenever
 *   the stream is lost (expired meta, restarted memory node). Offsets start at 1 for the first
 *   publication of an epoch. A position `{offset, epoch}` from one epoch is never valid in
 *   another. `removeHistory` drops the publications but keeps epoch and top offset (Centrifugo's
 *   `history_remove`).
 * - **TTL.** The stream (the publications) expires `historyTtl` after the last publication; the
 *   stream meta (epoch and top offset) expires `historyMetaTtl` after its last use, and when it
 *   expires the next publication starts a new epoch. With `historySize`, only the newest
 *   `historySize` publications are kept.
 * - **At-most-once delivery.** A publication reaches each node subscribed to its channel at most
 *   once; a node that misses it (disconnect from the broker) relies on history and positioning to
 *   notice the gap. Publishing to a channel nobody subscribes to still appends to its stream.
 * - **Idempotency.** A publish repeating an `idempotencyKey` within `idempotentResultTtl` appends
 *   and delivers nothing and resolves to the first publication's result with `suppressed: true`.
 * - A broker without history rejects `history` / `removeHistory` and publishes with history
 *   options with `ClientError(108)`.
 */
export interface Broker {
  /** Start delivering events to `handler`. Called once before anything else. */
  run(handler: BrokerEventHandler): Promise<void>;
  /** Start receiving publications and join/leave of these channels on this node. */
  subscribe(channels: string[]): Promise<void>;
  unsubscribe(channels: string[]): Promise<void>;
  publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult>;
  publishJoin(channel: string, info: ClientInfo): Promise<void>;
  publishLeave(channel: string, info: ClientInfo): Promise<void>;
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;
  close(): Promise<void>;
}
