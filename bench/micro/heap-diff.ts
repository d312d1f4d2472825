/** Heap snapshot helpers for the micro-benchmarks: group self sizes by type and name, diff two. */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export type HeapSummary = Map<string, { size: number; count: number }>;

/** Self size and count per `type:name` (string contents and code names collapsed). */
export function summarizeSnapshot(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out: HeapSummary = new Map();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + iType] ?? 0] ?? '?';
    let name = snap.strings[nodes[i + iName] ?? 0] ?? '';
    if (type.includes('string')) name = '';
    else if (type === 'number' || type === 'code' || type === 'hidden') name = name.slice(0, 40);
    else if (type === 'closure') name = name === '' ? '(anonymous)' : name;
    else name = name.slice(0, 60);
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { size: 0, count: 0 };
    e.size += nodes[i + iSize] ?? 0;
    e.count++;
    out.set(key, e);
  }
  return out;
}

/** Prints the growth from `before` to `after` divided by `per`, largest first. */
export function printHeapDiff(before: HeapSummary, after: HeapSummary, per: number, top: number): void {
  const rows: { key: string; size: number; count: number }[] = [];
  let total = 0;
  for (const [key, e] of after) {
    const prev = before.get(key) ?? { size: 0, count: 0 };
    total += e.size - prev.size;
    rows.push({ key, size: (e.size - prev.size) / per, count: (e.count - prev.count) / per });
  }
  rows.sort((x, y) => y.size - x.size);
  console.log(`snapshot growth per connection: ${(total / per).toFixed(0)} bytes`);
  console.log('bytes/conn  objects/conn  type:name');
  for (const r of rows.slice(0, top)) {
    console.log(`${r.size.toFixed(0).padStart(10)}  ${r.count.toFixed(2).padStart(12)}  ${r.key}`);
  }
}
