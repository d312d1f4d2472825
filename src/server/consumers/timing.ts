/** A wakeable sleep shared by the consumers (their retry backoff is `util/backoff.ts`). */

/**
 * Sleeps that can be cut short. `wake()` ends every current `sleep` at once, or — when nobody
 * sleeps — makes the next one return at once (one pending wake is remembered, more are merged).
 * `close()` ends the current sleeps and every later one immediately.
 */
export class Waker {
  private pending = false;
  private closed = false;
  private readonly sleepers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    if (this.closed || this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  wake(): void {
    if (this.sleepers.size > 0) this.finishAll();
    else this.pending = true;
  }

  close(): void {
    this.closed = true;
    this.finishAll();
  }

  private finishAll(): void {
    for (const done of [...this.sleepers]) done();
  }
}
