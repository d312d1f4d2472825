import type { ClientView, ConnectingEvent } from '../../core/handlers.js';
import type { Disconnect } from '../../protocol/codes.js';
import { ClientError, DisconnectError } from '../../protocol/codes.js';
import type { ChannelNamespace, ChannelOptions, Config } from '../config/index.js';
import { defaultConfig } from '../config/index.js';

/** Test fixtures for the handler tests (not used by production code). */

export const SECRET = 'test-secret';

export function testConfig(mut: (c: Config) => void = () => {}): Config {
  const c = defaultConfig();
  c.client.token.hmac_secret_key = SECRET;
  mut(c);
  return c;
}

export function ns(name: string, opts: Partial<ChannelOptions> = {}): ChannelNamespace {
  return { ...defaultConfig().channel.without_namespace, ...opts, name };
}

export interface StubClient extends ClientView {
  subscribed: Set<string>;
  disconnects: Disconnect[];
}

export function stubClient(
  userId: string,
  opts: { id?: string; channels?: string[]; info?: Uint8Array } = {},
): StubClient {
  const subscribed = new Set(opts.channels ?? []);
  const disconnects: Disconnect[] = [];
  return {
    id: opts.id ?? 'client-1',
    sessionId: 'session-1',
    userId,
    isAnonymous: userId === '',
    transportName: 'websocket',
    protocol: 'json',
    info: opts.info,
    meta: undefined,
    connMeta: { headers: {} },
    channels: () => [...subscribed],
    isSubscribed: (ch) => subscribed.has(ch),
    disconnect: (d) => disconnects.push(d),
    unsubscribe: (ch) => subscribed.delete(ch),
    subscribed,
    disconnects,
  };
}

export function connecting(extra: Partial<ConnectingEvent> = {}): ConnectingEvent {
  return {
    clientId: 'client-1',
    transportName: 'websocket',
    protocol: 'json',
    meta: { headers: {} },
    ...extra,
  };
}

/** Resolves to the error code (ClientError) or `d<code>` (DisconnectError) a promise rejects with. */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) return String(e.code);
    if (e instanceof DisconnectError) return `d${e.code}`;
    throw e;
  }
  return 'ok';
}

export const now = (): number => Math.floor(Date.now() / 1000);
export const bytes = (s: string): Uint8Array => Buffer.from(s);
export const text = (b: Uint8Array | undefined): string | undefined =>
  b ? Buffer.from(b).toString() : undefined;
