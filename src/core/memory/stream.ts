import { randomBytes } from 'node:crypto';
import type { Publication } from '../../protocol/types.js';

/** A fresh random epoch string (a new identity for a channel stream). */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * One channel stream of the memory broker: the retained publications (oldest first), the top
 * offset and the epoch. Time is passed in by the owner so expiry is checked lazily on access.
 */
export class MemoryStream {
  epoch = newEpoch();
  top = 0;
  publications: Publication[] = [];
  /** When the publications expire (ms); 0 = never set. */
  expireAt = 0;
  /** When the meta (epoch, top) expires (ms); 0 = never. */
  metaExpireAt = 0;
  version = 0;
  versionEpoch = '';

  /** Drops publications past their TTL. */
  expire(now: number): void {
    if (this.expireAt > 0 && this.expireAt <= now && this.publications.length > 0) this.publications = [];
  }

  /** True when the meta has expired and the stream must be forgotten (a new epoch follows). */
  metaExpired(now: number): boolean {
    return this.metaExpireAt > 0 && this.metaExpireAt <= now;
  }

  touchMeta(now: number, metaTtl: number | undefined): void {
    if (metaTtl !== undefined && metaTtl > 0) this.metaExpireAt = now + metaTtl;
  }

  /** Appends a publication with the next offset, trims to `size`, and returns it. */
  append(pub: Publication, size: number, ttl: number, now: number): Publication {
    this.expire(now);
    this.top++;
    pub.offset = this.top;
    this.publications.push(pub);
    if (this.publications.length > size) this.publications.splice(0, this.publications.length - size);
    this.expireAt = now + ttl;
    return pub;
  }

  /** Offset of the oldest retained publication, or top + 1 when nothing is retained. */
  oldestOffset(): number {
    return this.publications[0]?.offset ?? this.top + 1;
  }
}
