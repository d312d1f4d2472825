/**
 * Per-connection bookkeeping for `client.concurrency` > 1: how many commands of the connection are
 * running, the one command waiting for a free slot, and the order of subscription commands per
 * channel. Created only for connections of a node with concurrency on, so sequential connections
 * pay nothing for it.
 */
export class CommandSlots {
  private running = 0;
  /** Set while the connection's command chain waits for a slot (never more than one waiter). */
  private waiter: (() => void) | undefined;
  /** Last started subscription command of each channel, until it finishes. */
  private readonly tails = new Map<string, Promise<void>>();

  constructor(readonly limit: number) {}

  /** Commands started and not finished yet. */
  get inFlight(): number {
    return this.running;
  }

  /**
   * Takes a slot: `undefined` when one was free, else a promise that resolves once a running
   * command finishes and hands its slot over. Only the command chain calls this, one command at
   * a time, so there is at most one waiter.
   */
  acquire(): Promise<void> | undefined {
    if (this.running < this.limit) {
      this.running++;
      return undefined;
    }
    return new Promise<void>((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Gives a slot back, or straight to the waiting command. */
  release(): void {
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w();
      return;
    }
    this.running--;
  }

  /** Lets a waiting command go (the connection closed: it will find that out and stop). */
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) {
      this.running++;
      w();
    }
  }

  /**
   * Runs `fn` once the previous subscription command of `channel` has finished, so subscribe,
   * unsubscribe and sub_refresh of one channel take effect in the order they were sent. `fn`
   * must not reject.
   */
  inChannelOrder(channel: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.tails.get(channel);
    const p = prev === undefined ? fn() : prev.then(fn);
    this.tails.set(channel, p);
    const done = (): void => {
      if (this.tails.get(channel) === p) this.tails.delete(channel);
    };
    p.then(done, done);
    return p;
  }
}
