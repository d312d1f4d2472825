/**
 * Go `time.ParseDuration` compatible parsing, returning milliseconds.
 *
 * Accepted: an optional sign, then one or more `<number><unit>` groups, unit one of
 * `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h` (`"300ms"`, `"1h30m"`, `"1.5s"`). `"0"` is the only
 * unit-less value Go accepts. Returns `undefined` when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const m = /^([+-]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m) return undefined;
  const sign = m[1] === '-' ? -1 : 1;
  let ns = 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g;
  for (const p of s.slice(m[1]?.length ?? 0).matchAll(part)) {
    ns += Number(p[1]) * (UNIT_NS[p[2] ?? ''] ?? 0);
  }
  return (sign * ns) / 1e6;
}

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/**
 * Formats milliseconds as a compact Go duration string that `parseDuration` (and Go) reads back:
 * `25s`, `720h`, `300ms`, `1m30s`, `1h30m`.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let rest = Math.abs(ms);
  let out = '';
  if (rest < 1000) {
    out = `${trimNum(rest)}ms`;
  } else {
    const h = Math.floor(rest / 3_600_000);
    rest -= h * 3_600_000;
    const m = Math.floor(rest / 60_000);
    rest -= m * 60_000;
    if (h > 0) out += `${h}h`;
    if (m > 0) out += `${m}m`;
    if (rest > 0) out += `${trimNum(rest / 1000)}s`;
  }
  return neg ? `-${out}` : out;
}

function trimNum(n: number): string {
  return String(Number(n.toFixed(6)));
}
