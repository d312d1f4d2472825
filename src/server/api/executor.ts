import { ApiError, toApiError } from './errors.js';
import { methodsByName } from './methods.js';
import type { ApiContext, ApiDeps, ApiReply } from './types.js';

/**
 * Runs server API methods by name on decoded requests. Shared by every adapter (HTTP now, GRPC
 * and consumers later), so validation, defaults and error mapping live in one place.
 *
 * Contract: `execute` never rejects; it resolves to `{result}` or `{error}`. Unknown method ⇒ error
 * 104. Errors that are not API/protocol errors are logged and become 100. `idle()` resolves once no
 * call is in flight (graceful shutdown waits on it).
 */
export class ApiExecutor {
  private readonly ctx: ApiContext;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(deps: ApiDeps) {
    this.ctx = { ...deps, run: (m, r) => this.execute(m, r) };
  }

  /** Number of calls currently running. */
  get pending(): number {
    return this.inFlight;
  }

  async execute(method: string, request: unknown): Promise<ApiReply> {
    const m = methodsByName.get(method);
    if (m === undefined) return { error: new ApiError(104).toObject() };
    this.inFlight++;
    try {
      return { result: await m.handle(this.ctx, request) };
    } catch (err) {
      const e = toApiError(err);
      if (e.code === 100) this.ctx.logger.error({ err, method }, 'error executing API method');
      return { error: e };
    } finally {
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
