import { ClientError, ErrorCode } from '../protocol/codes.js';
import type { Publication, StreamPosition } from '../protocol/types.js';
import type { Node } from './node.js';

export interface RecoveryResult {
  recovered: boolean;
  /** Missed publications, oldest first (empty when not recovered). */
  publications: Publication[];
  /** Stream top when read. */
  top: number;
  epoch: string;
}

/** Current top of a channel stream. */
export async function streamTop(
  node: Node,
  channel: string,
  metaTtl: number | undefined,
): Promise<StreamPosition> {
  const q: { limit: number; metaTtl?: number } = { limit: 0 };
  if (metaTtl !== undefined) q.metaTtl = metaTtl;
  node.metrics.action('history_stream_top');
  const h = await node.broker.history(channel, q);
  return { offset: h.offset, epoch: h.epoch };
}

/**
 * Reads what a client missed since `since` (§9.2). Stream mode: recovered when the epoch matches
 * (an empty epoch matches any) and the publications read run contiguously from `since.offset + 1`
 * to the top, at most `max` of them. Cache mode: the latest publication (if the client lacks it).
 */
export async function recover(
  node: Node,
  channel: string,
  since: StreamPosition,
  opts: { metaTtl: number | undefined; cache: boolean; max: number },
): Promise<RecoveryResult> {
  const base: { metaTtl?: number } = {};
  if (opts.metaTtl !== undefined) base.metaTtl = opts.metaTtl;
  if (opts.cache) {
    node.metrics.action('history_recover_cache');
    const h = await node.broker.history(channel, { ...base, limit: 1, reverse: true });
    const sameEpoch = since.epoch === '' || since.epoch === h.epoch;
    if (sameEpoch && since.offset === h.offset)
      return { recovered: true, publications: [], top: h.offset, epoch: h.epoch };
    const latest = h.publications[0];
    return {
      recovered: latest !== undefined,
      publications: latest ? [latest] : [],
      top: h.offset,
      epoch: h.epoch,
    };
  }
  try {
    node.metrics.action('history_recover');
    const h = await node.broker.history(channel, { ...base, since, limit: opts.max > 0 ? opts.max : -1 });
    const pubs = h.publications;
    let recovered: boolean;
    if (pubs.length === 0) {
      recovered = h.offset === since.offset;
    } else {
      recovered = pubs[pubs.length - 1]?.offset === h.offset;
      let expected = since.offset + 1;
      for (const p of pubs) {
        if (p.offset !== expected) {
          recovered = false;
          break;
        }
        expected++;
      }
    }
    return { recovered, publications: recovered ? pubs : [], top: h.offset, epoch: h.epoch };
  } catch (err) {
    if (!(err instanceof ClientError) || err.code !== ErrorCode.unrecoverablePosition) throw err;
    const pos = await streamTop(node, channel, opts.metaTtl);
    return { recovered: false, publications: [], top: pos.offset, epoch: pos.epoch };
  }
}
