import type { ClientInfo } from '../protocol/types.js';

export interface PresenceStats {
  numClients: number;
  numUsers: number;
}

/**
 * Keeps who is online in each channel.
 *
 * Contract:
 * - `add` inserts or refreshes the entry of one client in one channel; an entry not refreshed
 *   within the manager's TTL disappears (the node refreshes each entry every
 *   `presenceUpdateInterval`, so a node that dies leaves no entries behind for long).
 * - `remove` deletes the entry at once.
 * - `presence` returns every live entry keyed by client id; `stats` counts live entries
 *   (`numClients`) and distinct users among them (`numUsers`, the anonymous user `""` counts once).
 */
export interface PresenceManager {
  add(channel: string, clientId: string, info: ClientInfo): Promise<void>;
  remove(channel: string, clientId: string, userId: string): Promise<void>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  stats(channel: string): Promise<PresenceStats>;
  close(): Promise<void>;
}
