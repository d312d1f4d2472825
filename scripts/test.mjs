#!/usr/bin/env node
// Runs the test files of the chosen tiers with Node's test runner (tsx loads TypeScript).
// Node 20's runner does not expand globs, so the files are collected here.
// Usage: node scripts/test.mjs [unit|conformance|integration|e2e|all] [extra node --test flags]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const tiers = {
  unit: ['src', 'examples', 'bench'],
  conformance: ['test/conformance'],
  integration: ['test/integration'],
  e2e: ['test/e2e'],
};
const [tier = 'all', ...extra] = process.argv.slice(2);
const roots = tier === 'all' ? Object.values(tiers).flat() : tiers[tier];
if (roots === undefined) {
  console.error(`unknown tier ${tier}; use one of: ${Object.keys(tiers).join(', ')}, all`);
  process.exit(2);
}

function collect(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) collect(p, out);
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = roots.flatMap((r) => collect(r, [])).sort();
if (files.length === 0) {
  console.error(`no test files found for tier ${tier}`);
  process.exit(1);
}
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...extra, ...files],
  { stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
