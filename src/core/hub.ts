import type { Client } from './client.js';

/**
 * This node's indexes of live connections: user -> connections and channel -> subscribers.
 * Maps keyed by client id keep insertion order, so fan-out order is subscription order.
 */
export class Hub {
  readonly clients = new Map<string, Client>();
  private readonly users = new Map<string, Map<string, Client>>();
  private readonly channels = new Map<string, Map<string, Client>>();
  private subsCount = 0;

  /** Registers a connected client under its user. */
  addClient(c: Client): void {
    this.clients.set(c.id, c);
    let byUser = this.users.get(c.userId);
    if (!byUser) {
      byUser = new Map();
      this.users.set(c.userId, byUser);
    }
    byUser.set(c.id, c);
  }

  removeClient(c: Client): void {
    if (!this.clients.delete(c.id)) return;
    const byUser = this.users.get(c.userId);
    if (!byUser) return;
    byUser.delete(c.id);
    if (byUser.size === 0) this.users.delete(c.userId);
  }

  /** Connections of a user on this node. */
  userClients(userId: string): Iterable<Client> {
    return this.users.get(userId)?.values() ?? [];
  }

  userConnectionCount(userId: string): number {
    return this.users.get(userId)?.size ?? 0;
  }

  /** Adds a subscriber; true when it is the channel's first on this node. */
  addSub(channel: string, c: Client): boolean {
    let subs = this.channels.get(channel);
    const first = !subs;
    if (!subs) {
      subs = new Map();
      this.channels.set(channel, subs);
    }
    if (!subs.has(c.id)) this.subsCount++;
    subs.set(c.id, c);
    return first;
  }

  /** Removes a subscriber; true when the channel has no subscriber left on this node. */
  removeSub(channel: string, c: Client): boolean {
    const subs = this.channels.get(channel);
    if (!subs) return false;
    if (subs.delete(c.id)) this.subsCount--;
    if (subs.size > 0) return false;
    this.channels.delete(channel);
    return true;
  }

  subscribers(channel: string): Map<string, Client> | undefined {
    return this.channels.get(channel);
  }

  hasSubscribers(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Channel -> number of subscribers on this node. */
  channelCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [ch, subs] of this.channels) out[ch] = subs.size;
    return out;
  }

  get numClients(): number {
    return this.clients.size;
  }
  get numUsers(): number {
    return this.users.size;
  }
  get numChannels(): number {
    return this.channels.size;
  }
  get numSubs(): number {
    return this.subsCount;
  }
}
