import type { RedisClient, RedisShard } from './shard.js';
import {
  HISTORY_LUA,
  PRESENCE_ADD_LUA,
  PRESENCE_GET_LUA,
  PRESENCE_REMOVE_LUA,
  PRESENCE_STATS_LUA,
  PUBLISH_LUA,
} from './scripts.js';

/**
 * Redis key layout of one channel. The channel is wrapped in a `{...}` hash tag in every key, so
 * all keys of a channel live in one Cluster slot and the Lua scripts stay single-slot; the same
 * layout is used without Cluster.
 */
export class KeyLayout {
  constructor(readonly prefix: string) {}

  /** PUB/SUB channel carrying publications and join/leave of a channel. */
  pubsub(channel: string): string {
    return `${this.prefix}.client.${channel}`;
  }
  stream(channel: string, lists: boolean): string {
    return `${this.prefix}.${lists ? 'list' : 'stream'}.{${channel}}`;
  }
  meta(channel: string): string {
    return `${this.prefix}.meta.{${channel}}`;
  }
  idempotency(channel: string, key: string): string {
    return `${this.prefix}.result.{${channel}}.${key}`;
  }
  presenceData(channel: string): string {
    return `${this.prefix}.presence.data.{${channel}}`;
  }
  presenceExpire(channel: string): string {
    return `${this.prefix}.presence.expire.{${channel}}`;
  }
  /** Node-to-node control channel every node listens to. */
  control(): string {
    return `${this.prefix}.control`;
  }
  /** Control channel of one node. */
  controlOf(node: string): string {
    return `${this.prefix}.control.${node}`;
  }
}

type ScriptArg = string | Buffer | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

const scripts = {
  gyrePublish: { numberOfKeys: 3, lua: PUBLISH_LUA },
  gyreHistory: { numberOfKeys: 2, lua: HISTORY_LUA },
  gyrePresenceAdd: { numberOfKeys: 2, lua: PRESENCE_ADD_LUA },
  gyrePresenceGet: { numberOfKeys: 2, lua: PRESENCE_GET_LUA },
  gyrePresenceStats: { numberOfKeys: 2, lua: PRESENCE_STATS_LUA },
  gyrePresenceRemove: { numberOfKeys: 2, lua: PRESENCE_REMOVE_LUA },
} as const;

export type ScriptName = keyof typeof scripts;

const defined = new WeakSet<RedisClient>();

/**
 * Runs one of the engine's Lua scripts on a shard (EVALSHA, EVAL when the script is not cached),
 * returning bulk replies as Buffers.
 */
export function runScript(shard: RedisShard, name: ScriptName, ...args: ScriptArg[]): Promise<unknown> {
  const client = shard.client;
  if (!defined.has(client)) {
    for (const [n, def] of Object.entries(scripts)) client.defineCommand(n, def);
    defined.add(client);
  }
  const fn = (client as unknown as Record<string, ScriptFn>)[`${name}Buffer`];
  if (!fn) throw new Error(`redis script ${name} not defined`);
  return fn.apply(client, args);
}
