import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublishOptions,
  PublishResult,
} from '../../core/broker.js';
import { noopLogger, type Logger } from '../../core/logger.js';
import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { ClientInfo, Publication } from '../../protocol/types.js';
import { SharedNatsConnection, withTimeout, type NatsSettings } from './connection.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';

const NO_POSITION = { offset: 0, epoch: '' };
const textDecoder = new TextDecoder();

function isWildcard(subject: string): boolean {
  return subject.split('.').some((t) => t === '*' || t === '>');
}

/**
 * Replaces every occurrence of each key of `replacements` by its value, left to right in one
 * pass (a replaced part is not looked at again; at one position the longest key wins).
 */
export function channelReplacer(replacements: Record<string, string>): ((s: string) => string) | undefined {
  const keys = Object.keys(replacements)
    .filter((k) => k !== '')
    .sort((a, b) => b.length - a.length);
  if (keys.length === 0) return undefined;
  const re = new RegExp(keys.map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  return (s) => s.replace(re, (m) => replacements[m] as string);
}

/** True when `data` is one JSON value (what a JSON-protocol subscriber can be sent as `data`). */
function isJson(data: Uint8Array): boolean {
  try {
    JSON.parse(textDecoder.decode(data));
    return true;
  } catch {
    return false;
  }
}

/**
 * At-most-once PUB/SUB over core NATS (no JetStream): each channel is the subject
 * `<prefix>.client.<channel>`. No history: `history`, `removeHistory` and publishes asking for
 * history (`historySize` and `historyTtl` > 0) reject with `ClientError(108)`; idempotency keys
 * and versions are not tracked. Join/leave travel on the channel subject too.
 *
 * With `allowWildcards`, a channel with `*` / `>` tokens subscribes to that NATS wildcard and its
 * subscribers receive publications of every matching channel (with `pub.channel` set to the
 * source); without it such channels reject with `ClientError(107)`.
 *
 * Raw mode (`settings.rawMode`) exposes plain NATS subjects as channels: channel `c` is the subject
 * `rawMode.prefix` + `c` with `rawMode.replacements` applied (say `:` ⇒ `.`), whatever is published
 * on it by anyone reaches the channel's subscribers as the publication data, and a publish sends
 * the bare data. Nothing else travels: no client info, tags or deltas, no join/leave. A message
 * that is not one JSON value is dropped with a warning, since JSON-protocol subscribers could not
 * be sent it.
 */
export class NatsBroker implements Broker {
  private nc: NatsConnection | undefined;
  private handler: BrokerEventHandler | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly conn: SharedNatsConnection;
  private readonly logger: Logger;
  private acquired = false;
  private readonly raw: { prefix: string; replace: ((s: string) => string) | undefined } | undefined;

  constructor(conn: SharedNatsConnection | NatsSettings, logger: Logger = noopLogger) {
    this.conn = conn instanceof SharedNatsConnection ? conn : new SharedNatsConnection(conn);
    this.logger = logger;
    const raw = this.settings.rawMode;
    if (raw !== undefined) this.raw = { prefix: raw.prefix, replace: channelReplacer(raw.replacements) };
  }

  private get settings(): NatsSettings {
    return this.conn.settings;
  }

  /** The NATS subject of a channel. */
  subject(channel: string): string {
    const raw = this.raw;
    if (raw === undefined) return `${this.settings.prefix}.client.${channel}`;
    return raw.prefix + (raw.replace === undefined ? channel : raw.replace(channel));
  }

  /** The subject of a channel this broker may use; wildcards need `allowWildcards` (else 107). */
  private checkedSubject(channel: string): string {
    const subject = this.subject(channel);
    if (!this.settings.allowWildcards && isWildcard(subject)) {
      throw new ClientError(ErrorCode.badRequest, 'wildcard channels need broker.nats.allow_wildcards');
    }
    return subject;
  }

  private connection(): NatsConnection {
    if (this.nc === undefined) throw new Error('NATS broker is not running');
    return this.nc;
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    this.acquired = true;
    this.nc = await this.conn.acquire();
  }

  async subscribe(channels: string[]): Promise<void> {
    const nc = this.connection();
    for (const ch of channels) {
      const subject = this.checkedSubject(ch);
      if (this.subs.has(ch)) continue;
      const prefixLen = this.raw?.prefix.length ?? this.settings.prefix.length + '.client.'.length;
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ err, channel: ch }, 'NATS subscription error');
            return;
          }
          if (this.raw !== undefined)
            this.deliverRaw(ch, msg.subject === subject ? undefined : msg.subject.slice(prefixLen), msg.data);
          else this.deliver(ch, msg.subject.slice(prefixLen), msg.data);
        },
      });
      this.subs.set(ch, sub);
    }
    // The server has the subscriptions once a flush round-trip returns: later publishes reach us.
    await withTimeout(nc.flush(), this.settings.writeTimeout, 'NATS subscribe');
  }

  async unsubscribe(channels: string[]): Promise<void> {
    for (const ch of channels) {
      const sub = this.subs.get(ch);
      if (sub === undefined) continue;
      this.subs.delete(ch);
      sub.unsubscribe();
    }
  }

  private deliver(channel: string, source: string, data: Uint8Array): void {
    const h = this.handler;
    const e = decodeEnvelope(data);
    if (h === undefined || e === undefined) return;
    if (e.t === 'p') {
      const pub: Publication = e.p;
      if (source !== channel) pub.channel = source;
      h.onPublication(channel, pub, NO_POSITION, e.d === true);
    } else if (e.t === 'j') h.onJoin(channel, e.i);
    else h.onLeave(channel, e.i);
  }

  /** Raw mode: the message is the data; `source` is the subject matched by a wildcard channel. */
  private deliverRaw(channel: string, source: string | undefined, data: Uint8Array): void {
    const h = this.handler;
    if (h === undefined) return;
    if (!isJson(data)) {
      this.logger.warn({ channel, subject: source }, 'NATS raw mode: message is not JSON, dropped');
      return;
    }
    const pub: Publication = { data };
    if (source !== undefined) pub.channel = source;
    h.onPublication(channel, pub, NO_POSITION, false);
  }

  async publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    if ((options.historySize ?? 0) > 0 && (options.historyTtl ?? 0) > 0) {
      throw new ClientError(ErrorCode.notAvailable);
    }
    const subject = this.checkedSubject(channel);
    if (this.raw !== undefined) {
      this.connection().publish(subject, data);
      return { offset: 0, epoch: '' };
    }
    const pub: Publication = { data };
    if (options.clientInfo !== undefined) pub.info = options.clientInfo;
    if (options.tags !== undefined && Object.keys(options.tags).length > 0) pub.tags = options.tags;
    const env =
      options.useDelta === true ? { t: 'p' as const, p: pub, d: true } : { t: 'p' as const, p: pub };
    this.connection().publish(subject, encodeEnvelope(env));
    return { offset: 0, epoch: '' };
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    if (this.raw !== undefined) return;
    this.connection().publish(this.subject(channel), encodeEnvelope({ t: 'j', i: info }));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    if (this.raw !== undefined) return;
    this.connection().publish(this.subject(channel), encodeEnvelope({ t: 'l', i: info }));
  }

  history(_channel: string, _query: HistoryQuery): Promise<HistoryResult> {
    return Promise.reject(new ClientError(ErrorCode.notAvailable));
  }

  removeHistory(_channel: string): Promise<void> {
    return Promise.reject(new ClientError(ErrorCode.notAvailable));
  }

  async close(): Promise<void> {
    for (const sub of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
    this.handler = undefined;
    this.nc = undefined;
    if (this.acquired) {
      this.acquired = false;
      await this.conn.release();
    }
  }
}
