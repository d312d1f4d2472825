/**
 * Turns consumed messages into server API calls, with Centrifugo's delivery rules:
 *
 * - A message is either an API command (`method` + JSON request `payload`; when the transport gives
 *   no method the payload is an envelope `{"method": ..., "payload": ...}`) or, in publication
 *   data mode, the data of a publication whose channels and options come from headers / fields.
 * - An internal error of the API call (code 100, or 100 in any channel answer of a broadcast) is
 *   temporary: `dispatch*` throws {@link RetryableError} and the consumer keeps the message to try
 *   again later.
 * - Anything else that goes wrong is the message's own fault (bad JSON, unknown method, a request
 *   the API rejects): it is logged and the message counts as done, so it is not retried forever.
 */
import type { Logger } from '../../core/logger.js';
import type { ApiReply } from '../api/index.js';
import { methodsByName } from '../api/index.js';
import { JsonObject } from '../api/json.js';
import type { BroadcastRequest, PublishRequest } from '../api/requests.js';
import type { ApiSpan, ConsumerSpans } from '../tracing.js';

/** The API the consumers call (implemented by `ApiExecutor`). */
export interface ConsumerApi {
  execute(method: string, request: unknown, protocol: 'consumer'): Promise<ApiReply>;
}

/** The API call failed for a reason that may go away (internal error): keep the message. */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly method: string,
  ) {
    super(message);
    this.name = 'RetryableError';
  }
}

/**
 * Methods a consumed command may run: the ones that change state, as in Centrifugo. Other known
 * methods (reads such as `history` or `info`) make no sense without a caller to answer and are
 * skipped.
 */
export const CONSUMER_METHODS: ReadonlySet<string> = new Set([
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'history_remove',
  'refresh',
]);

/** Publication fields of a publication data mode message (all but the data). */
export interface PublicationMeta {
  channels: string[];
  idempotencyKey: string;
  delta: boolean;
  version: number;
  versionEpoch: string;
  tags?: Record<string, string>;
}

/** Names of the headers / fields carrying the publication fields in publication data mode. */
export interface PublicationFieldNames {
  channels: string;
  idempotencyKey: string;
  delta: string;
  version: string;
  versionEpoch: string;
  tagsPrefix: string;
}

/** Thrown by {@link publicationMeta} for a field value that cannot be parsed (the message is skipped). */
export class BadMessageError extends Error {}

/**
 * Reads the publication fields of a publication data mode message through `get` (a header or
 * stream field by name; `undefined` when absent) and `keys` (every name present, for tags).
 * Channels are comma separated; empty names are dropped. Delta accepts Go's boolean spellings,
 * version a non-negative integer. Throws {@link BadMessageError} on an unparsable value.
 */
export function publicationMeta(
  names: PublicationFieldNames,
  get: (name: string) => string | undefined,
  keys: () => Iterable<string>,
): PublicationMeta {
  const val = (name: string): string => (name === '' ? '' : (get(name) ?? ''));
  const channels = val(names.channels)
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
  const deltaText = val(names.delta);
  let delta = false;
  if (deltaText !== '') {
    const b = parseGoBool(deltaText);
    if (b === undefined) throw new BadMessageError(`bad ${names.delta} value ${JSON.stringify(deltaText)}`);
    delta = b;
  }
  const versionText = val(names.version);
  let version = 0;
  if (versionText !== '') {
    if (!/^\d+$/.test(versionText) || !Number.isSafeInteger(Number(versionText))) {
      throw new BadMessageError(`bad ${names.version} value ${JSON.stringify(versionText)}`);
    }
    version = Number(versionText);
  }
  const meta: PublicationMeta = {
    channels,
    idempotencyKey: val(names.idempotencyKey),
    delta,
    version,
    versionEpoch: val(names.versionEpoch),
  };
  if (names.tagsPrefix !== '') {
    for (const k of keys()) {
      if (k.length > names.tagsPrefix.length && k.startsWith(names.tagsPrefix)) {
        (meta.tags ??= {})[k.slice(names.tagsPrefix.length)] = get(k) ?? '';
      }
    }
  }
  return meta;
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(s)) return false;
  return undefined;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function text(payload: Uint8Array | string): string {
  return typeof payload === 'string' ? payload : decoder.decode(payload);
}

/**
 * A payload is a JSON request object, or a JSON string holding one (what CDC tools such as
 * Debezium produce for a JSONB column). Returns the request's JSON text.
 */
function unwrapJsonString(json: string): string {
  const t = json.trimStart();
  if (!t.startsWith('"')) return json;
  const inner: unknown = JSON.parse(t);
  return typeof inner === 'string' ? inner : json;
}

/** Dispatches consumed messages of one consumer to the API. */
export class ConsumerDispatcher {
  constructor(
    private readonly api: ConsumerApi,
    private readonly logger: Logger,
    /** Consumer name, for logs. */
    private readonly consumer: string,
    /** Traces every dispatched message (`opentelemetry.consuming`); absent = no tracing. */
    private readonly spans?: ConsumerSpans,
  ) {}

  /**
   * Runs one API command. `method` empty = `payload` is a `{"method", "payload"}` envelope.
   * Resolves when the message is done (run, or skipped and logged); throws {@link RetryableError}
   * when it should be tried again.
   */
  dispatchCommand(method: string, payload: Uint8Array | string): Promise<void> {
    if (this.spans === undefined) return this.command(method, payload);
    return this.traced((span) => this.command(method, payload, span));
  }

  /**
   * Publishes `data` (publication data mode): `publish` for one channel, `broadcast` for several.
   * No channel = skipped.
   */
  dispatchPublication(data: Uint8Array | string, meta: PublicationMeta): Promise<void> {
    if (this.spans === undefined) return this.publication(data, meta);
    return this.traced((span) => this.publication(data, meta, span));
  }

  /** Runs `fn` inside one consumer span; a throw (retry) fails the span and is rethrown. */
  private async traced(fn: (span: ApiSpan) => Promise<void>): Promise<void> {
    const span = (this.spans as ConsumerSpans).start();
    try {
      await fn(span);
    } catch (err) {
      if (err instanceof RetryableError) span.set('centrifugo.retry', true);
      span.fail(err instanceof Error ? err.message : String(err));
      throw err;
    } finally {
      span.end();
    }
  }

  private async command(method: string, payload: Uint8Array | string, span?: ApiSpan): Promise<void> {
    let name = method;
    let body: string;
    try {
      body = text(payload);
      if (name === '') {
        const env = JsonObject.parse(body);
        if (env === null) throw new Error('null message');
        name = env.str('method');
        const raw = env.raw('payload');
        body = raw === undefined ? 'null' : Buffer.from(raw).toString('utf8');
      }
      body = unwrapJsonString(body);
    } catch (err) {
      this.skip('malformed message', name, err, span);
      return;
    }
    const m = methodsByName.get(name);
    if (m === undefined || !CONSUMER_METHODS.has(name)) {
      this.skip('unsupported method', name, undefined, span);
      return;
    }
    let request: unknown;
    try {
      request = m.fromJson(JsonObject.parse(body));
    } catch (err) {
      this.skip('bad request payload', name, err, span);
      return;
    }
    await this.run(name, request, span);
  }

  private async publication(data: Uint8Array | string, meta: PublicationMeta, span?: ApiSpan): Promise<void> {
    if (meta.channels.length === 0) {
      this.skip('no channels in publication data mode message', 'publish', undefined, span);
      return;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const common: Omit<PublishRequest, 'channel'> = {
      data: bytes,
      b64data: '',
      skip_history: false,
      idempotency_key: meta.idempotencyKey,
      delta: meta.delta,
      version: meta.version,
      version_epoch: meta.versionEpoch,
    };
    if (meta.tags !== undefined) common.tags = meta.tags;
    if (meta.channels.length === 1) {
      const req: PublishRequest = { ...common, channel: meta.channels[0] as string };
      await this.run('publish', req, span);
    } else {
      const req: BroadcastRequest = { ...common, channels: meta.channels };
      await this.run('broadcast', req, span);
    }
  }

  /** Logs a message that is dropped (it will not be retried); fails its span when traced. */
  skip(reason: string, method: string, err?: unknown, span?: ApiSpan): void {
    const ctx: Record<string, unknown> = { consumer: this.consumer, reason };
    if (method !== '') ctx['method'] = method;
    if (err !== undefined) ctx['err'] = err instanceof Error ? err.message : JSON.stringify(err);
    this.logger.error(ctx, 'non retryable error during consuming, skip message');
    if (span !== undefined) {
      if (method !== '') span.request(method, undefined);
      span.fail(`skipped: ${reason}`);
    }
  }

  private async run(method: string, request: unknown, span?: ApiSpan): Promise<void> {
    span?.request(method, request);
    const rep = await this.api.execute(method, request, 'consumer');
    span?.reply(rep);
    if (rep.error !== undefined) {
      if (rep.error.code === 100) throw new RetryableError(rep.error.message, method);
      this.skip(`API error ${rep.error.code}: ${rep.error.message}`, method);
      return;
    }
    if (method === 'broadcast') {
      const responses = (rep.result as { responses?: ApiReply[] } | undefined)?.responses ?? [];
      // One channel failing with an internal error retries the whole broadcast (publishers may set
      // an idempotency key against duplicates in the channels that succeeded).
      if (responses.some((r) => r.error?.code === 100)) {
        throw new RetryableError('internal error in a broadcast channel', method);
      }
    }
  }
}
