/**
 * Polling and event helpers for end-to-end tests: wait for a condition instead of sleeping.
 */

/**
 * Resolves once `cond()` returns a truthy value (sync or async), polling every `intervalMs`.
 * Rejects with `message` (or a generic text) after `timeoutMs`.
 */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  timeoutMs = 5000,
  message = 'condition not met',
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await cond();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor timed out after ${timeoutMs}ms: ${message}${suffix}`);
    }
    await delay(intervalMs);
  }
}

/** Plain timer promise; use only to let time pass on purpose (e.g. "nothing happens for N ms"). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Minimal event emitter shape shared by the SDK objects and `ws`. */
export interface Emitter {
  once(event: string, listener: (...args: never[]) => void): unknown;
  off?(event: string, listener: (...args: never[]) => void): unknown;
  removeListener?(event: string, listener: (...args: never[]) => void): unknown;
}

/**
 * Resolves with the first argument of the next `event` emitted by `emitter`, or rejects after
 * `timeoutMs` naming the event.
 */
export function nextEvent<T = unknown>(emitter: Emitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const listener = (arg: T): void => {
      clearTimeout(timer);
      resolve(arg);
    };
    const timer = setTimeout(() => {
      if (emitter.off) emitter.off(event, listener);
      else emitter.removeListener?.(event, listener);
      reject(new Error(`timed out after ${timeoutMs}ms waiting for event "${event}"`));
    }, timeoutMs);
    emitter.once(event, listener);
  });
}

/** Rejects after `ms` with `message` unless `p` settles first. */
export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms: ${message}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
