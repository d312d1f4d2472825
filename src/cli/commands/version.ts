import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIO } from '../io.js';

/** Version of the gyre package (read from its package.json, found upwards from this file). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'gyre' && pkg.version) return pkg.version;
    } catch {
      // not here; keep walking up
    }
    dir = dirname(dir);
  }
  return '0.0.0';
}

/** `gyre version`. */
export function runVersion(io: CliIO): number {
  io.out(`Gyre v${packageVersion()} (Centrifugo v6 compatible, Node ${process.version})\n`);
  return 0;
}
