/**
 * Summarises a sampling heap profile written by `bench/tools/alloc-profile.mjs`: bytes allocated
 * in the window by allocating function (self), and by the call paths that allocate most. With
 * `--ops N` (e.g. the number of ping round trips in the window) it also prints bytes per op.
 *
 *   node --import tsx bench/tools/alloc-summary.ts /tmp/alloc-1234.heapprofile [--ops 12000] [--top 20]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { ops: { type: 'string' }, top: { type: 'string', default: '20' } },
});
const file = positionals[0];
if (file === undefined) {
  console.error('usage: alloc-summary.ts <file.heapprofile> [--ops N] [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode; durationMs?: number };
const ops = values.ops === undefined ? 0 : Number(values.ops);
const top = Number(values.top);

const name = (f: CallFrame): string =>
  `${f.functionName || '(anonymous)'} ${f.url.split('/').at(-1) ?? ''}:${f.lineNumber + 1}`;
const bySelf = new Map<string, number>();
const byPath = new Map<string, number>();
const walk = (n: ProfileNode, path: string[]): void => {
  const self = name(n.callFrame);
  const here = [...path, self];
  if (n.selfSize > 0) {
    bySelf.set(self, (bySelf.get(self) ?? 0) + n.selfSize);
    const key = here.slice(-5).reverse().join(' < ');
    byPath.set(key, (byPath.get(key) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, here);
};
walk(profile.head, []);

const total = [...bySelf.values()].reduce((a, b) => a + b, 0);
const secs = (profile.durationMs ?? 0) / 1000;
console.log(
  `allocated ${(total / 2 ** 20).toFixed(2)} MiB` +
    (secs > 0 ? ` in ${secs} s (${(total / secs / 1024).toFixed(0)} KiB/s)` : '') +
    (ops > 0 ? `, ${(total / ops).toFixed(0)} B per op (${ops} ops)` : ''),
);
const print = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const per = ops > 0 ? `${(v / ops).toFixed(0).padStart(6)} B/op  ` : '';
    console.log(`${((v / total) * 100).toFixed(1).padStart(5)}%  ${per}${k}`);
  }
};
print('by allocating function', bySelf);
print('by call path (innermost first)', byPath);
