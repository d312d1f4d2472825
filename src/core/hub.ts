import type { ChannelSub, Client } from './client.js';

/**
 * A group of entries under one key: the entry itself while it is alone (the common case for a
 * user's connections and for personal channels), a Map keyed by client id from the second one on.
 * A one-entry Map costs ~250 bytes; a direct reference costs nothing extra.
 */
type Group<T> = T | Map<string, T>;

/** Adds `e` under its client's id, replacing one it had; true when the client was not in it. */
function groupAdd<T>(groups: Map<string, Group<T>>, key: string, e: T, idOf: (e: T) => string): boolean {
  const id = idOf(e);
  const g = groups.get(key);
  if (g === undefined) {
    groups.set(key, e);
    return true;
  }
  if (g instanceof Map) {
    const had = g.has(id);
    g.set(id, e);
    return !had;
  }
  const gid = idOf(g);
  if (gid === id) {
    groups.set(key, e);
    return false;
  }
  groups.set(
    key,
    new Map([
      [gid, g],
      [id, e],
    ]),
  );
  return true;
}

/** Removes client `id`'s entry from the group under `key`; true when it was there. */
function groupDelete<T>(
  groups: Map<string, Group<T>>,
  key: string,
  id: string,
  idOf: (e: T) => string,
): boolean {
  const g = groups.get(key);
  if (g === undefined) return false;
  if (g instanceof Map) {
    if (!g.delete(id)) return false;
    if (g.size === 0) groups.delete(key);
    return true;
  }
  if (idOf(g) !== id) return false;
  groups.delete(key);
  return true;
}

const clientId = (c: Client): string => c.id;
const subClientId = (s: ChannelSub): string => s.client.id;

function groupSize<T>(g: Group<T> | undefined): number {
  if (g === undefined) return 0;
  return g instanceof Map ? g.size : 1;
}

function groupValues<T>(g: Group<T> | undefined): Iterable<T> {
  if (g === undefined) return [];
  return g instanceof Map ? g.values() : [g];
}

/**
 * This node's indexes of live connections: user -> connections and channel -> subscriptions (each
 * one's client is `sub.client`: a broadcast reaches the subscription without a lookup in the
 * client's own map). Groups keyed by client id keep insertion order, so fan-out order is
 * subscription order.
 */
export class Hub {
  readonly clients = new Map<string, Client>();
  private readonly users = new Map<string, Group<Client>>();
  private readonly channels = new Map<string, Group<ChannelSub>>();
  private subsCount = 0;

  /** Registers a connected client under its user. */
  addClient(c: Client): void {
    this.clients.set(c.id, c);
    groupAdd(this.users, c.userId, c, clientId);
  }

  removeClient(c: Client): void {
    if (!this.clients.delete(c.id)) return;
    groupDelete(this.users, c.userId, c.id, clientId);
  }

  /** Connections of a user on this node. */
  userClients(userId: string): Iterable<Client> {
    return groupValues(this.users.get(userId));
  }

  userConnectionCount(userId: string): number {
    return groupSize(this.users.get(userId));
  }

  /**
   * Adds a subscription (replacing an earlier one of the same client); true when it is the
   * channel's first on this node.
   */
  addSub(channel: string, sub: ChannelSub): boolean {
    const first = !this.channels.has(channel);
    if (groupAdd(this.channels, channel, sub, subClientId)) this.subsCount++;
    return first;
  }

  /** Removes a subscriber; true when the channel has no subscriber left on this node. */
  removeSub(channel: string, c: Client): boolean {
    if (!this.channels.has(channel)) return false;
    if (groupDelete(this.channels, channel, c.id, subClientId)) this.subsCount--;
    return !this.channels.has(channel);
  }

  /** Subscribers of a channel by client id. */
  subscribers(channel: string): Map<string, Client> | undefined {
    const g = this.channels.get(channel);
    if (g === undefined) return undefined;
    const out = new Map<string, Client>();
    for (const sub of groupValues(g)) out.set(sub.client.id, sub.client);
    return out;
  }

  /**
   * Hot path: the subscriptions to a channel without copying: one subscription or a Map by client
   * id. Callers must not modify the Map.
   */
  subscriberGroup(channel: string): ChannelSub | ReadonlyMap<string, ChannelSub> | undefined {
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
