/**
 * Decides whether a new real-time connection may open on this node: `client.connection_limit`
 * (open connections) and `client.connection_rate_limit` (new connections per second, a token
 * bucket refilled continuously). A refused connection gets HTTP 503.
 */
export function createAdmission(opts: {
  connectionLimit: number;
  rateLimit: number;
  openConnections: () => number;
  now?: () => number;
  /** Called for each connection refused because of the connection limit. */
  onLimit?: () => void;
}): () => boolean {
  const now = opts.now ?? Date.now;
  const rate = opts.rateLimit;
  let tokens = rate;
  let last = now();
  return () => {
    if (opts.connectionLimit > 0 && opts.openConnections() >= opts.connectionLimit) {
      opts.onLimit?.();
      return false;
    }
    if (rate <= 0) return true;
    const t = now();
    tokens = Math.min(rate, tokens + ((t - last) / 1000) * rate);
    last = t;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  };
}
