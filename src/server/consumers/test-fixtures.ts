/**
 * Test support for consumer tests (unit and integration): a recording stand-in for the API
 * executor, a recording logger and default consumer configs.
 */
import type { Logger } from '../../core/logger.js';
import type { ApiReply } from '../api/index.js';
import { defaultOf, nodeAt, type ConsumerConfig } from '../config/index.js';
import type { ConsumerApi } from './dispatch.js';

/** One API call a consumer made. */
export interface RecordedCall {
  method: string;
  request: Record<string, unknown>;
}

/**
 * Records every call; answers `{result: {}}` unless `reply` says otherwise (for example an
 * internal error for the first attempts of a message).
 */
export class RecordingApi implements ConsumerApi {
  readonly calls: RecordedCall[] = [];
  reply: (call: RecordedCall, attempt: number) => ApiReply = () => ({ result: {} });
  private readonly attempts = new Map<string, number>();
  private waiters: (() => void)[] = [];

  execute(method: string, request: unknown): Promise<ApiReply> {
    const call = { method, request: request as Record<string, unknown> };
    this.calls.push(call);
    const key = JSON.stringify(call, (_k, v: unknown) =>
      v instanceof Uint8Array ? Buffer.from(v).toString() : v,
    );
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, attempt);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    return Promise.resolve(this.reply(call, attempt));
  }

  /** `data` of the recorded calls, decoded as UTF-8 text. */
  dataOf(): string[] {
    return this.calls.map((c) => Buffer.from(c.request['data'] as Uint8Array).toString('utf8'));
  }

  /** Resolves once at least `n` calls were made; rejects after `timeoutMs`. */
  async waitCalls(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.calls.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} API calls, got ${this.calls.length}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** One log entry. */
export interface LogEntry {
  level: string;
  obj: Record<string, unknown>;
  msg: string | undefined;
}

/** A logger keeping every entry. */
export function recordingLogger(entries: LogEntry[] = []): Logger & { entries: LogEntry[] } {
  const rec =
    (level: string) =>
    (obj: object, msg?: string): void => {
      entries.push({ level, obj: obj as Record<string, unknown>, msg });
    };
  return { entries, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** A `consumers[]` element with every default, changed by `patch`. */
export function consumerConfig(patch: (c: ConsumerConfig) => void): ConsumerConfig {
  const node = nodeAt('consumers[]');
  if (node === undefined) throw new Error('no consumers[] in the schema');
  const c = defaultOf(node) as ConsumerConfig;
  patch(c);
  return c;
}
