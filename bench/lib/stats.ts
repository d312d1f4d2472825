/**
 * Latency histogram with fixed 10 µs buckets up to 10 s (plus one overflow bucket). Fixed buckets
 * make recording O(1) in the receive path and let worker histograms be merged by addition.
 */
export const BUCKET_US = 10;
export const BUCKETS = 1_000_001;

export class Histogram {
  readonly counts: Uint32Array;
  count = 0;
  sumUs = 0;
  maxUs = 0;

  constructor(counts?: Uint32Array) {
    this.counts = counts ?? new Uint32Array(BUCKETS);
    if (counts) {
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i] ?? 0;
        if (c === 0) continue;
        this.count += c;
        this.sumUs += c * i * BUCKET_US;
        this.maxUs = i * BUCKET_US;
      }
    }
  }

  record(us: number): void {
    const v = us < 0 ? 0 : us;
    const i = Math.min(BUCKETS - 1, Math.floor(v / BUCKET_US));
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.count++;
    this.sumUs += v;
    if (v > this.maxUs) this.maxUs = v;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < other.counts.length; i++) {
      const c = other.counts[i] ?? 0;
      if (c !== 0) this.counts[i] = (this.counts[i] ?? 0) + c;
    }
    this.count += other.count;
    this.sumUs += other.sumUs;
    if (other.maxUs > this.maxUs) this.maxUs = other.maxUs;
  }

  /** Percentile (0..100) in milliseconds; upper edge of the bucket holding it. */
  percentileMs(p: number): number {
    if (this.count === 0) return 0;
    const target = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= target) return ((i + 1) * BUCKET_US) / 1000;
    }
    return this.maxUs / 1000;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      meanMs: this.count ? round(this.sumUs / this.count / 1000) : 0,
      p50Ms: round(this.percentileMs(50)),
      p95Ms: round(this.percentileMs(95)),
      p99Ms: round(this.percentileMs(99)),
      maxMs: round(this.maxUs / 1000),
    };
  }
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Round to 3 significant decimals for printing and JSON. */
export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Monotonic microseconds, same clock in every thread of the process. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
