#!/usr/bin/env node
// Copies the non-TypeScript files the code loads at run time (.proto schemas) from src/ into
// dist/src/, beside the compiled modules that read them.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

function copy(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) copy(p);
    else if (e.name.endsWith('.proto')) {
      const target = join('dist', p);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(p, target);
    }
  }
}
copy('src');
