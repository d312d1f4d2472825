/**
 * Draws deliveries/s and p99 latency against offered load (publications/s) for every target of
 * a saturate result: `node --import tsx bench/chart.ts [results.json] [out.svg]`. Without
 * arguments it uses the newest `bench/results/saturate-*.json` and writes `bench/results/saturate.svg`.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR } from './lib/report.js';

interface Step {
  rate: number;
  deliveriesPerSec: number;
  latency: { p99Ms: number };
}
interface Series {
  target: string;
  protocol: string;
  conns: number;
  steps: Step[];
}

const COLORS: Record<string, string> = { gyre: '#1f77b4', ws: '#2ca02c', socketio: '#d62728' };
const W = 460;
const H = 300;
const M = { l: 70, r: 20, t: 30, b: 45 };

function newestSaturate(): string {
  const files = readdirSync(RESULTS_DIR)
    .filter((f) => f.startsWith('saturate-') && f.endsWith('.json'))
    .sort();
  const last = files[files.length - 1];
  if (!last) throw new Error('no saturate result in bench/results: run `npm run bench -- saturate` first');
  return join(RESULTS_DIR, last);
}

function panel(x0: number, title: string, series: Series[], y: (s: Step) => number, yLabel: string): string {
  const xs = series.flatMap((s) => s.steps.map((p) => p.rate));
  const ys = series.flatMap((s) => s.steps.map(y));
  const xMin = Math.log10(Math.min(...xs));
  const xMax = Math.log10(Math.max(...xs)) + 1e-9;
  const yMax = Math.max(...ys, 1e-9) * 1.1;
  const px = (v: number): number =>
    x0 + M.l + ((Math.log10(v) - xMin) / (xMax - xMin || 1)) * (W - M.l - M.r);
  const py = (v: number): number => H - M.b - (v / yMax) * (H - M.t - M.b);
  const parts: string[] = [
    `<text x="${x0 + W / 2}" y="18" text-anchor="middle" font-weight="bold">${title}</text>`,
    `<line x1="${x0 + M.l}" y1="${H - M.b}" x2="${x0 + W - M.r}" y2="${H - M.b}" stroke="#333"/>`,
    `<line x1="${x0 + M.l}" y1="${M.t}" x2="${x0 + M.l}" y2="${H - M.b}" stroke="#333"/>`,
    `<text x="${x0 + W / 2}" y="${H - 8}" text-anchor="middle">publications/s (log)</text>`,
    `<text x="${x0 + 14}" y="${H / 2}" text-anchor="middle" transform="rotate(-90 ${x0 + 14} ${H / 2})">${yLabel}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    parts.push(
      `<text x="${x0 + M.l - 4}" y="${py(v) + 4}" text-anchor="end">${v >= 1000 ? `${Math.round(v / 1000)}k` : v.toFixed(v < 10 ? 1 : 0)}</text>`,
    );
  }
  // Bisection steps crowd the axis: label a rate only when it has room next to the last label.
  let lastLabel = -Infinity;
  for (const r of [...new Set(xs)].sort((a, b) => a - b)) {
    if (px(r) - lastLabel < 28) continue;
    lastLabel = px(r);
    parts.push(`<text x="${px(r).toFixed(1)}" y="${H - M.b + 14}" text-anchor="middle">${r}</text>`);
  }
  for (const s of series) {
    const color = COLORS[s.target] ?? '#555';
    const pts = s.steps.map((p) => `${px(p.rate).toFixed(1)},${py(y(p)).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`);
    for (const p of s.steps)
      parts.push(`<circle cx="${px(p.rate).toFixed(1)}" cy="${py(y(p)).toFixed(1)}" r="3" fill="${color}"/>`);
  }
  return parts.join('\n');
}

function main(): void {
  const input = process.argv[2] ?? newestSaturate();
  const out = process.argv[3] ?? join(RESULTS_DIR, 'saturate.svg');
  const data = JSON.parse(readFileSync(input, 'utf8')) as { results: Series[] };
  // Bisection steps come after the doubling ones: plot every series in rate order.
  const series = data.results
    .filter((s) => s.steps.length > 0)
    .map((s) => ({ ...s, steps: [...s.steps].sort((a, b) => a.rate - b.rate) }));
  const legend = series
    .map((s, i) => {
      const name = s.target === 'gyre' ? `gyre/${s.protocol}` : s.target;
      return `<rect x="${10 + i * 140}" y="${H + 8}" width="12" height="12" fill="${COLORS[s.target] ?? '#555'}"/><text x="${26 + i * 140}" y="${H + 18}">${name} (${s.conns} conns)</text>`;
    })
    .join('\n');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W}" height="${H + 30}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${panel(0, 'Deliveries/s vs load', series, (s) => s.deliveriesPerSec, 'deliveries/s')}
${panel(W, 'p99 latency vs load', series, (s) => s.latency.p99Ms, 'p99 ms')}
${legend}
</svg>
`;
  writeFileSync(out, svg);
  process.stdout.write(`chart written to ${out}\n`);
}

main();
