import type { PresenceManager, PresenceStats } from '../../core/presence.js';
import type { ClientInfo } from '../../protocol/types.js';
import { decodeBody, encodeBody } from './envelope.js';
import { KeyLayout, runScript } from './keys.js';
import { shardIndex, type RedisShard } from './shard.js';

export interface RedisPresenceOptions {
  /** The shards channels are spread over (same hashing as the broker). */
  shards: RedisShard[];
  /** Key prefix. Default `centrifugo`. */
  prefix?: string;
  /** Entry lifetime without refresh (ms), Centrifugo's `presence_ttl`. Default 60000. */
  ttl?: number;
}

/**
 * Presence over Redis. Per channel: a hash client id → `<len>:<user><info body>` and a sorted set
 * client id → expire-at (Redis server clock, ms). Expired entries are removed by the read scripts
 * before answering; both keys also expire `ttl` after the last `add`, so an abandoned channel
 * leaves nothing behind. `stats` counts distinct users in Lua from the user prefix of each value,
 * so no separate user structure is kept (Centrifugo's `presence_user_mapping` is accepted and has
 * the same result).
 */
export class RedisPresenceManager implements PresenceManager {
  private readonly shards: RedisShard[];
  private readonly keys: KeyLayout;
  private readonly ttl: number;
  private closed = false;

  constructor(options: RedisPresenceOptions) {
    if (options.shards.length === 0) throw new Error('RedisPresenceManager needs at least one shard');
    this.shards = options.shards.map((s) => s.acquire());
    this.keys = new KeyLayout(options.prefix ?? 'centrifugo');
    this.ttl = options.ttl ?? 60_000;
  }

  private shardFor(channel: string): RedisShard {
    return this.shards[shardIndex(channel, this.shards.length)] as RedisShard;
  }

  async add(channel: string, clientId: string, info: ClientInfo): Promise<void> {
    const user = Buffer.from(info.user, 'utf8');
    const value = Buffer.concat([Buffer.from(`${user.length}:`), user, encodeBody(new Uint8Array(0), info)]);
    await runScript(
      this.shardFor(channel),
      'gyrePresenceAdd',
      this.keys.presenceData(channel),
      this.keys.presenceExpire(channel),
      clientId,
      value,
      this.ttl,
    );
  }

  async remove(channel: string, clientId: string, _userId: string): Promise<void> {
    await runScript(
      this.shardFor(channel),
      'gyrePresenceRemove',
      this.keys.presenceData(channel),
      this.keys.presenceExpire(channel),
      clientId,
    );
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const flat = (await runScript(
      this.shardFor(channel),
      'gyrePresenceGet',
      this.keys.presenceData(channel),
      this.keys.presenceExpire(channel),
    )) as Buffer[];
    const out: Record<string, ClientInfo> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const id = (flat[i] as Buffer).toString('utf8');
      const value = Buffer.from(flat[i + 1] as Buffer);
      const sep = value.indexOf(0x3a /* : */);
      const userLen = parseInt(value.toString('latin1', 0, sep), 10);
      const info = decodeBody(value, sep + 1 + userLen).info;
      if (info) out[id] = info;
    }
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const [clients, users] = (await runScript(
      this.shardFor(channel),
      'gyrePresenceStats',
      this.keys.presenceData(channel),
      this.keys.presenceExpire(channel),
    )) as [number, number];
    return { numClients: Number(clients), numUsers: Number(users) };
  }

  /** Releases the shards (their connections close when nothing else uses them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.shards.map((s) => s.release()));
  }
}
