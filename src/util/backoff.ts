/**
 * Backoff before retry number `attempt` (0-based): `base` ms doubling up to `max`, with jitter
 * (50-100 % of that), so many clients that failed together do not retry in step.
 */
export function backoffDelay(attempt: number, base = 100, max = 5000): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 16));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}
