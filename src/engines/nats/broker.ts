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

function isWildcard(channel: string): boolean {
  return channel.split('.').some((t) => t === '*' || t === '>');
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
 */
export class NatsBroker implements Broker {
  private nc: NatsConnection | undefined;
  private handler: BrokerEventHandler | undefined;
  private readonly subs = new Map<string, Subscription>();
  private readonly conn: SharedNatsConnection;
  private readonly logger: Logger;
  private acquired = false;

  constructor(conn: SharedNatsConnection | NatsSettings, logger: Logger = noopLogger) {
    this.conn = conn instanceof SharedNatsConnection ? conn : new SharedNatsConnection(conn);
    this.logger = logger;
  }

  private get settings(): NatsSettings {
    return this.conn.settings;
  }

  private subject(channel: string): string {
    return `${this.settings.prefix}.client.${channel}`;
  }

  private checkChannel(channel: string): void {
    if (!this.settings.allowWildcards && isWildcard(channel)) {
      throw new ClientError(ErrorCode.badRequest, 'wildcard channels need broker.nats.allow_wildcards');
    }
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
      this.checkChannel(ch);
      if (this.subs.has(ch)) continue;
      const prefixLen = this.settings.prefix.length + '.client.'.length;
      const sub = nc.subscribe(this.subject(ch), {
        callback: (err, msg) => {
          if (err) {
            this.logger.warn({ err, channel: ch }, 'NATS subscription error');
            return;
          }
          this.deliver(ch, msg.subject.slice(prefixLen), msg.data);
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

  async publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    if ((options.historySize ?? 0) > 0 && (options.historyTtl ?? 0) > 0) {
      throw new ClientError(ErrorCode.notAvailable);
    }
    this.checkChannel(channel);
    const pub: Publication = { data };
    if (options.clientInfo !== undefined) pub.info = options.clientInfo;
    if (options.tags !== undefined && Object.keys(options.tags).length > 0) pub.tags = options.tags;
    const env =
      options.useDelta === true ? { t: 'p' as const, p: pub, d: true } : { t: 'p' as const, p: pub };
    this.connection().publish(this.subject(channel), encodeEnvelope(env));
    return { offset: 0, epoch: '' };
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    this.connection().publish(this.subject(channel), encodeEnvelope({ t: 'j', i: info }));
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
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
