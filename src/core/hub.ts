import type { Client } from './client.js';

/**
 * A group of clients under one key: the client itself while it is alone (the common case for a
 * user's connections and for personal channels), a Map keyed by client id from the second one on.
 * A one-entry Map costs ~250 bytes; a direct reference costs nothing extra.
 */
type Group = Client | Map<string, Client>;

function groupAdd(groups: Map<string, Group>, key: string, c: Client): boolean {
  const g = groups.get(key);
  if (g === undefined) {
    groups.set(key, c);
    return true;
  }
  if (g instanceof Map) {
    if (g.has(c.id)) return false;
    g.set(c.id, c);
    return true;
  }
  if (g === c) return false;
  groups.set(
    key,
    new Map([
      [g.id, g],
      [c.id, c],
    ]),
  );
  return true;
}

/** Removes `c` from the group under `key`; true when it was there. */
function groupDelete(groups: Map<string, Group>, key: string, c: Client): boolean {
  const g = groups.get(key);
  if (g === undefined) return false;
  if (g instanceof Map) {
    if (!g.delete(c.id)) return false;
    if (g.size === 0) groups.delete(key);
    return true;
  }
  if (g !== c) return false;
  groups.delete(key);
  return true;
}

function groupSize(g: Group | undefined): number {
  if (g === undefined) return 0;
  return g instanceof Map ? g.size : 1;
}

function groupValues(g: Group | undefined): Iterable<Client> {
  if (g === undefined) return [];
  return g instanceof Map ? g.values() : [g];
}

/**
 * This node's indexes of live connections: user -> connections and channel -> subscribers.
 * Groups keyed by client id keep insertion order, so fan-out order is subscription order.
 */
export class Hub {
  readonly clients = new Map<string, Client>();
  private readonly users = new Map<string, Group>();
  private readonly channels = new Map<string, Group>();
  private subsCount = 0;

  /** Registers a connected client under its user. */
  addClient(c: Client): void {
    this.clients.set(c.id, c);
    groupAdd(this.users, c.userId, c);
  }

  removeClient(c: Client): void {
    if (!this.clients.delete(c.id)) return;
    groupDelete(this.users, c.userId, c);
  }

  /** Connections of a user on this node. */
  userClients(userId: string): Iterable<Client> {
    return groupValues(this.users.get(userId));
  }

  userConnectionCount(userId: string): number {
    return groupSize(this.users.get(userId));
  }

  /** Adds a subscriber; true when it is the channel's first on this node. */
  addSub(channel: string, c: Client): boolean {
    const first = !this.channels.has(channel);
    if (groupAdd(this.channels, channel, c)) this.subsCount++;
    return first;
  }

  /** Removes a subscriber; true when the channel has no subscriber left on this node. */
  removeSub(channel: string, c: Client): boolean {
    if (!this.channels.has(channel)) return false;
    if (groupDelete(this.channels, channel, c)) this.subsCount--;
    return !this.channels.has(channel);
  }

  /** Subscribers of a channel by client id (a copy when the channel has a single subscriber). */
  subscribers(channel: string): Map<string, Client> | undefined {
    const g = this.channels.get(channel);
    if (g === undefined || g instanceof Map) return g;
    return new Map([[g.id, g]]);
  }

  /**
   * Hot path: the subscribers of a channel without copying: one client or a Map by client id.
   * Callers must not modify the Map.
   */
  subscriberGroup(channel: string): Client | ReadonlyMap<string, Client> | undefined {
    return this.channels.get(channel);
  }

  hasSubscribers(channel: string): boolean {
    return this.channels.has(channel);
  }

  /** Channel -> number of subscribers on this node. */
  channelCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [ch, g] of this.channels) out[ch] = groupSize(g);
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
