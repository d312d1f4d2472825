import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// The layers of design.md: each imports only layers to its left.
// protocol <- core <- { engines, transports } <- server <- cli, with util (no imports of ours) under all.
const rank: Record<string, number> = {
  util: -1,
  protocol: 0,
  core: 1,
  engines: 2,
  transports: 2,
  server: 3,
  cli: 4,
};
const srcDir = dirname(fileURLToPath(import.meta.url));

function layerOf(file: string): string | undefined {
  const top = relative(srcDir, file).split('/')[0];
  return top !== undefined && top in rank ? top : undefined;
}

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    // Tests and test kits may reach across layers to build fixtures.
    else if (
      e.name.endsWith('.ts') &&
      !e.name.endsWith('.test.ts') &&
      !/test-(kit|fixtures|server)\.ts$/.test(e.name)
    )
      out.push(p);
  }
  return out;
}

test('no layer imports a layer to its right, and engines and transports do not import each other', () => {
  const violations: string[] = [];
  for (const file of sources(srcDir)) {
    const from = layerOf(file);
    if (from === undefined) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/from '(\.[^']+)'/g)) {
      const target = layerOf(resolve(dirname(file), m[1] ?? ''));
      if (target === undefined || target === from) continue;
      const bad = (rank[target] ?? 0) > (rank[from] ?? 0) || rank[target] === rank[from];
      if (bad) violations.push(`${relative(srcDir, file)} imports ${m[1]} (${from} -> ${target})`);
    }
  }
  assert.deepEqual(violations, []);
});
