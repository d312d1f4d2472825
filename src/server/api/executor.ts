import { ApiError, toApiError } from './errors.js';
import { methodsByName } from './methods.js';
import type { ApiContext, ApiDeps, ApiReply } from './types.js';

/** Which adapter a call came through (the `protocol` label of the API metrics). */
export type ApiProtocol = 'http' | 'grpc' | 'consumer';

/** Timing of API calls (implemented by the server's Prometheus metrics). */
export interface ApiMetrics {
  /** A timestamp (ms) to pass to `apiCommandDone`. */
  now(): number;
  /** A call of a known method finished; `errorCode` is set when it answered an error. */
  apiCommandDone(protocol: ApiProtocol, method: string, started: number, errorCode: number | undefined): void;
}

/**
 * Runs server API methods by name on decoded requests. Shared by every adapter (HTTP now, GRPC
 * and consumers later), so validation, defaults and error mapping live in one place.
 *
 * Contract: `execute` never rejects; it resolves to `{result}` or `{error}`. Unknown method ⇒ error
 * 104. Errors that are not API/protocol errors are logged and become 100. `idle()` resolves once no
 * call is in flight (graceful shutdown waits on it).
 */
export class ApiExecutor {
  /** Per protocol, so that the commands of a batch are counted under their batch's protocol. */
  private readonly ctx: Record<ApiProtocol, ApiContext>;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    deps: ApiDeps,
    private readonly metrics?: ApiMetrics,
  ) {
    this.ctx = {
      http: { ...deps, run: (m, r) => this.execute(m, r, 'http') },
      grpc: { ...deps, run: (m, r) => this.execute(m, r, 'grpc') },
      consumer: { ...deps, run: (m, r) => this.execute(m, r, 'consumer') },
    };
  }

  /** Number of calls currently running. */
  get pending(): number {
    return this.inFlight;
  }

  async execute(method: string, request: unknown, protocol: ApiProtocol = 'http'): Promise<ApiReply> {
    const m = methodsByName.get(method);
    if (m === undefined) return { error: new ApiError(104).toObject() };
    const ctx = this.ctx[protocol];
    const started = this.metrics?.now() ?? 0;
    let errorCode: number | undefined;
    this.inFlight++;
    try {
      return { result: await m.handle(ctx, request) };
    } catch (err) {
      const e = toApiError(err);
      errorCode = e.code;
      if (e.code === 100) ctx.logger.error({ err, method }, 'error executing API method');
      return { error: e };
    } finally {
      this.metrics?.apiCommandDone(protocol, method, started, errorCode);
      this.inFlight--;
      if (this.inFlight === 0 && this.idleWaiters.length > 0) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of ws) w();
      }
    }
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
