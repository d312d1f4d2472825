import type { ClientInfo } from '../../protocol/types.js';
import type { PresenceManager, PresenceStats } from '../presence.js';

export interface MemoryPresenceOptions {
  /** Entry lifetime without refresh (ms). Default 60000. */
  ttl?: number;
  now?: () => number;
}

interface Entry {
  info: ClientInfo;
  expireAt: number;
}

/** In-process presence: per channel a map of client id to info, expired lazily on read. */
export class MemoryPresenceManager implements PresenceManager {
  private readonly channels = new Map<string, Map<string, Entry>>();
  private readonly ttl: number;
  private readonly now: () => number;

  constructor(options: MemoryPresenceOptions = {}) {
    this.ttl = options.ttl ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async add(channel: string, clientId: string, info: ClientInfo): Promise<void> {
    let entries = this.channels.get(channel);
    if (!entries) {
      entries = new Map();
      this.channels.set(channel, entries);
    }
    entries.set(clientId, { info, expireAt: this.now() + this.ttl });
  }

  async remove(channel: string, clientId: string, _userId: string): Promise<void> {
    const entries = this.channels.get(channel);
    if (!entries) return;
    entries.delete(clientId);
    if (entries.size === 0) this.channels.delete(channel);
  }

  private live(channel: string): Map<string, Entry> | undefined {
    const entries = this.channels.get(channel);
    if (!entries) return undefined;
    const now = this.now();
    for (const [id, e] of entries) if (e.expireAt <= now) entries.delete(id);
    if (entries.size === 0) {
      this.channels.delete(channel);
      return undefined;
    }
    return entries;
  }

  async presence(channel: string): Promise<Record<string, ClientInfo>> {
    const out: Record<string, ClientInfo> = {};
    const entries = this.live(channel);
    if (entries) for (const [id, e] of entries) out[id] = e.info;
    return out;
  }

  async stats(channel: string): Promise<PresenceStats> {
    const entries = this.live(channel);
    if (!entries) return { numClients: 0, numUsers: 0 };
    const users = new Set<string>();
    for (const e of entries.values()) users.add(e.info.user);
    return { numClients: entries.size, numUsers: users.size };
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
