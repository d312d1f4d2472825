/** Reading Prometheus text exposition (format 0.0.4) in tests. */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of an exposition; `# HELP` / `# TYPE` lines are skipped. */
export function parsePrometheus(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$/.exec(line);
    if (m === null) throw new Error(`unparsable exposition line: ${line}`);
    out.push({ name: m[1] as string, labels: parseLabels(m[2] ?? ''), value: parseValue(m[3] as string) });
  }
  return out;
}

function parseValue(s: string): number {
  const l = s.toLowerCase();
  if (l === 'nan') return NaN;
  if (l === '+inf') return Infinity;
  if (l === '-inf') return -Infinity;
  return Number(s);
}

function parseLabels(s: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
  for (const m of s.slice(1, -1).matchAll(re)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Samples named `name` whose labels include every pair of `labels`. */
export function samplesOf(
  text: string | PromSample[],
  name: string,
  labels: Record<string, string> = {},
): PromSample[] {
  const all = typeof text === 'string' ? parsePrometheus(text) : text;
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** Sum of the matching samples (undefined when none matches). */
export function metricValue(
  text: string | PromSample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const ss = samplesOf(text, name, labels);
  return ss.length === 0 ? undefined : ss.reduce((a, s) => a + s.value, 0);
}

/** `# TYPE` of a metric family. */
export function metricType(text: string, name: string): string | undefined {
  const m = new RegExp(`^# TYPE ${name} (\\S+)$`, 'm').exec(text);
  return m?.[1];
}
