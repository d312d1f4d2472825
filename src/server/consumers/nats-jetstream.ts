/**
 * `nats_jetstream` consumer: pulls messages of a JetStream stream through a durable pull consumer.
 *
 * The JetStream API is plain request/reply JSON over core NATS (`$JS.API.*`), so this talks to it
 * with the core client: at start it creates (or updates) the durable consumer `durable_consumer_name`
 * on `stream_name` — explicit acks, 30 s ack wait, `deliver_policy` (`new` | `all`),
 * `max_ack_pending`, filtered on `subjects` — or, with `use_existing_consumer`, only checks that it
 * exists. The stream itself must exist. Then it pulls batches (`$JS.API.CONSUMER.MSG.NEXT`,
 * long-polling with an expiry) and runs the messages one at a time, in order: `+ACK` once the API
 * call is done (or the message was skipped as bad), `-NAK` with a growing delay when the call failed
 * in a retryable way (redelivered by the server). The connection reconnects forever; a pull that
 * gets no answer at all (server restarted, consumer gone) makes the consumer check — and, unless
 * `use_existing_consumer`, re-create — the durable consumer before pulling again.
 *
 * Message layout: the data is the API request and header `method_header` the method (absent = the
 * data is a `{"method", "payload"}` envelope). In publication data mode the data is the publication
 * data and the `publication_data_mode.*_header` headers give channels, idempotency key, delta,
 * version, version epoch and tags.
 */
import { readFileSync } from 'node:fs';
import {
  connect,
  createInbox,
  credsAuthenticator,
  Match,
  type Msg,
  type NatsConnection,
  type NodeConnectionOptions,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from '../../core/logger.js';
import { loadPem } from '../../util/pem.js';
import type { NatsJetStreamConsumerConfig } from '../config/index.js';
import {
  BadMessageError,
  publicationMeta,
  RetryableError,
  type ConsumerDispatcher,
  type PublicationFieldNames,
} from './dispatch.js';
import { backoffDelay } from '../../util/backoff.js';
import { Waker } from './timing.js';
import type { Consumer } from './types.js';

const NS_PER_MS = 1_000_000;
/** Ack wait of consumers created here (as Centrifugo sets it). */
const ACK_WAIT_MS = 30_000;
/** JetStream API request timeout. */
const API_TIMEOUT_MS = 5000;

/** Extra knobs for tests. */
export interface NatsJetStreamOptions {
  /** How long one pull waits for messages (ms). Default 5000. */
  pullExpires?: number;
}

interface ApiError {
  code: number;
  err_code?: number;
  description: string;
}

/** One outstanding pull request. */
interface Pull {
  id: number;
  done: boolean;
  /** Resolves when the pull ended (status, timeout, stop) or a message arrived. */
  signal: () => void;
  answered: boolean;
}

export class NatsJetStreamConsumer implements Consumer {
  private nc: NatsConnection | undefined;
  private sub: Subscription | undefined;
  private readonly inbox = createInbox();
  private pullSeq = 0;
  private pull: Pull | undefined;
  private readonly queue: Msg[] = [];
  private stopped = false;
  /** The durable consumer must be checked (re-created) before the next pull. */
  private needsCheck = false;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly waker = new Waker();
  private readonly fieldNames: PublicationFieldNames;
  private readonly expires: number;

  constructor(
    readonly name: string,
    private readonly cfg: NatsJetStreamConsumerConfig,
    private readonly dispatcher: ConsumerDispatcher,
    private readonly logger: Logger,
    /** Config key of this consumer's section, for errors (`consumers[0].nats_jetstream`). */
    private readonly key: string,
    options: NatsJetStreamOptions = {},
  ) {
    const p = cfg.publication_data_mode;
    this.fieldNames = {
      channels: p.channels_header,
      idempotencyKey: p.idempotency_key_header,
      delta: p.delta_header,
      version: p.version_header,
      versionEpoch: p.version_epoch_header,
      tagsPrefix: p.tags_header_prefix,
    };
    this.expires = options.pullExpires ?? 5000;
  }

  private get batch(): number {
    const max = this.cfg.max_ack_pending > 0 ? this.cfg.max_ack_pending : 100;
    return Math.min(max, 100);
  }

  async start(): Promise<void> {
    const nc = await connect(this.connectOptions());
    this.nc = nc;
    try {
      if (this.cfg.subjects.length > 1 && !this.cfg.use_existing_consumer && !serverAtLeast(nc, 2, 10)) {
        throw new Error(
          `${this.key}.subjects: several subjects need NATS server 2.10 or newer (server is ${nc.info?.version ?? 'unknown'})`,
        );
      }
      await this.ensureConsumer();
    } catch (err) {
      await nc.close().catch(() => {});
      throw err;
    }
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.onMsg(err, msg) });
    void this.watchStatus(nc);
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.waker.close();
    this.endPull();
    await this.loopDone;
    this.sub?.unsubscribe();
    const nc = this.nc;
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private connectOptions(): NodeConnectionOptions {
    const c = this.cfg;
    const opts: NodeConnectionOptions = {
      servers: c.url
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== ''),
      name: `gyre_consumer_${this.name}`,
      timeout: 5000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    };
    if (c.credentials_file !== '') {
      opts.authenticator = credsAuthenticator(new Uint8Array(readFileSync(c.credentials_file)));
    } else if (c.username !== '') {
      opts.user = c.username;
      opts.pass = c.password;
    } else if (c.token !== '') {
      opts.token = c.token;
    }
    if (c.tls.enabled) {
      const tls: Record<string, unknown> = {};
      if (c.tls.cert_pem) tls['cert'] = loadPem(c.tls.cert_pem, `${this.key}.tls.cert_pem`).toString();
      if (c.tls.key_pem) tls['key'] = loadPem(c.tls.key_pem, `${this.key}.tls.key_pem`).toString();
      if (c.tls.server_ca_pem)
        tls['ca'] = loadPem(c.tls.server_ca_pem, `${this.key}.tls.server_ca_pem`).toString();
      if (c.tls.insecure_skip_verify) tls['rejectUnauthorized'] = false;
      if (c.tls.server_name) tls['servername'] = c.tls.server_name;
      opts.tls = tls;
    }
    return opts;
  }

  /** A JetStream API call: resolves the response object or throws its error description. */
  private async jsApi(subject: string, body: object | undefined): Promise<Record<string, unknown>> {
    const nc = this.nc as NatsConnection;
    const msg = await nc.request(`$JS.API.${subject}`, body === undefined ? '' : JSON.stringify(body), {
      timeout: API_TIMEOUT_MS,
    });
    const res = msg.json<Record<string, unknown>>();
    const err = res['error'] as ApiError | undefined;
    if (err !== undefined) {
      throw new JetStreamApiError(err.description, err.err_code ?? 0, err.code);
    }
    return res;
  }

  /** Creates/updates the durable consumer, or checks it exists (`use_existing_consumer`). */
  private async ensureConsumer(): Promise<void> {
    const c = this.cfg;
    const target = `${c.stream_name}.${c.durable_consumer_name}`;
    try {
      if (c.use_existing_consumer) {
        await this.jsApi(`CONSUMER.INFO.${target}`, undefined);
        return;
      }
      const config: Record<string, unknown> = {
        durable_name: c.durable_consumer_name,
        deliver_policy: c.deliver_policy,
        ack_policy: 'explicit',
        ack_wait: ACK_WAIT_MS * NS_PER_MS,
        max_ack_pending: c.max_ack_pending,
      };
      if (c.subjects.length === 1) config['filter_subject'] = c.subjects[0];
      else if (c.subjects.length > 1) config['filter_subjects'] = c.subjects;
      await this.jsApi(`CONSUMER.DURABLE.CREATE.${target}`, { stream_name: c.stream_name, config });
    } catch (err) {
      const what = c.use_existing_consumer ? 'looking up' : 'creating';
      throw new Error(
        `${this.key}: error ${what} JetStream consumer "${c.durable_consumer_name}" on stream "${c.stream_name}": ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.stopped) return;
      if (s.type === 'disconnect') {
        this.logger.warn({ consumer: this.name }, 'NATS JetStream consumer disconnected');
      } else if (s.type === 'reconnect') {
        this.logger.info({ consumer: this.name }, 'NATS JetStream consumer reconnected');
        // The pull in flight may be gone with the old server: start a fresh one.
        this.endPull();
      }
    }
  }

  private onMsg(err: Error | null, msg: Msg): void {
    if (err !== null) return;
    const code = msg.headers?.code ?? 0;
    if (code !== 0 && (msg.reply === undefined || msg.reply === '') && msg.data.length === 0) {
      this.onStatus(msg, code);
      return;
    }
    this.queue.push(msg);
    this.pull?.signal();
  }

  /** A status message of a pull: 100 = heartbeat; 404/408 = pull over; 409 = pull over (why given). */
  private onStatus(msg: Msg, code: number): void {
    if (code === 100) return;
    const id = Number(msg.subject.slice(this.inbox.length + 1));
    const pull = this.pull;
    if (pull === undefined || pull.id !== id) return; // about an older pull
    pull.answered = true;
    if (code !== 404 && code !== 408) {
      const description = msg.headers?.description ?? '';
      this.logger.warn({ consumer: this.name, code, description }, 'NATS JetStream pull ended');
      if (code === 409 && /deleted/i.test(description)) this.needsCheck = true;
    }
    this.endPull();
  }

  private endPull(): void {
    const p = this.pull;
    if (p === undefined || p.done) return;
    p.done = true;
    p.signal();
  }

  private async loop(): Promise<void> {
    const nc = this.nc as NatsConnection;
    let failures = 0;
    while (!this.stopped) {
      if (this.needsCheck) {
        try {
          await this.ensureConsumer();
          this.needsCheck = false;
          failures = 0;
        } catch (err) {
          if (this.stopped) break;
          const delay = backoffDelay(failures++, 200);
          this.logger.error(
            { consumer: this.name, err: (err as Error).message, retry_in_ms: delay },
            'NATS JetStream consumer is not available',
          );
          await this.waker.sleep(delay);
          continue;
        }
      }
      const pull: Pull = { id: ++this.pullSeq, done: false, signal: () => {}, answered: false };
      this.pull = pull;
      let wake: (() => void) | undefined;
      pull.signal = () => wake?.();
      const timer = setTimeout(() => {
        // No answer at all within the expiry (+ grace): check the consumer before pulling again.
        if (!pull.answered && !pull.done) this.needsCheck = true;
        this.endPull();
      }, this.expires + 5000);
      try {
        nc.publish(
          `$JS.API.CONSUMER.MSG.NEXT.${this.cfg.stream_name}.${this.cfg.durable_consumer_name}`,
          JSON.stringify({ batch: this.batch, expires: this.expires * NS_PER_MS }),
          { reply: `${this.inbox}.${pull.id}` },
        );
      } catch (err) {
        clearTimeout(timer);
        if (this.stopped) break;
        const delay = backoffDelay(failures++, 200);
        this.logger.error(
          { consumer: this.name, err: (err as Error).message },
          'error pulling from JetStream',
        );
        await this.waker.sleep(delay);
        continue;
      }
      let received = 0;
      while (!this.stopped) {
        const msg = this.queue.shift();
        if (msg !== undefined) {
          pull.answered = true;
          received++;
          await this.handle(msg);
          continue;
        }
        if (pull.done || received >= this.batch) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
      clearTimeout(timer);
      pull.done = true;
      if (pull.answered) failures = 0;
    }
  }

  private async handle(msg: Msg): Promise<void> {
    try {
      if (this.cfg.publication_data_mode.enabled) await this.handlePublication(msg);
      else await this.dispatcher.dispatchCommand(this.header(msg, this.cfg.method_header) ?? '', msg.data);
    } catch (err) {
      if (err instanceof RetryableError) {
        const delay = backoffDelay(deliveryCount(msg.reply ?? '') - 1, 500, 30_000);
        this.logger.error(
          { consumer: this.name, method: err.method, err: err.message, retry_in_ms: delay },
          'error processing JetStream message, it will be redelivered',
        );
        msg.respond(`-NAK ${JSON.stringify({ delay: delay * NS_PER_MS })}`);
        return;
      }
      // Not an outcome of the message itself (a bug): leave it for redelivery after the ack wait.
      this.logger.error(
        { consumer: this.name, err: (err as Error).message },
        'error processing JetStream message',
      );
      return;
    }
    msg.respond('+ACK');
  }

  private async handlePublication(msg: Msg): Promise<void> {
    let meta;
    try {
      meta = publicationMeta(
        this.fieldNames,
        (n) => this.header(msg, n),
        () => msg.headers?.keys() ?? [],
      );
    } catch (err) {
      if (!(err instanceof BadMessageError)) throw err;
      this.dispatcher.skip(err.message, 'publish');
      return;
    }
    await this.dispatcher.dispatchPublication(msg.data, meta);
  }

  private header(msg: Msg, name: string): string | undefined {
    if (name === '' || msg.headers === undefined) return undefined;
    if (!msg.headers.has(name, Match.IgnoreCase)) return undefined;
    return msg.headers.get(name, Match.IgnoreCase);
  }
}

class JetStreamApiError extends Error {
  constructor(
    message: string,
    readonly errCode: number,
    readonly code: number,
  ) {
    super(message);
  }
}

function serverAtLeast(nc: NatsConnection, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(nc.info?.version ?? '');
  if (m === null) return true;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/**
 * The delivery count in a JetStream ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>...`
 * (9 tokens) or, with domain and account hash, `$JS.ACK.<domain>.<hash>.<stream>.<consumer>.<delivered>...`.
 */
export function deliveryCount(ackSubject: string): number {
  const t = ackSubject.split('.');
  const v = t.length >= 12 ? t[6] : t[4];
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
