import { ConfigError, loadConfig, validateConfig } from '../server/config/index.js';
import type { Config, LoadOptions, LoadResult } from '../server/config/index.js';
import type { CliIO } from './io.js';

/** Prints each line of `errors` to stderr as `error: <line>`. */
export function printErrors(io: CliIO, errors: readonly string[]): void {
  for (const e of errors) io.err(`error: ${e}\n`);
}

/**
 * Loads and validates configuration for a command. On any problem prints every error and returns
 * undefined (the caller exits 1).
 */
export async function loadValid(
  io: CliIO,
  opts: LoadOptions & { strict?: boolean },
): Promise<(LoadResult & { config: Config }) | undefined> {
  let res: LoadResult;
  try {
    res = await loadConfig({ ...opts, env: opts.env ?? io.env ?? process.env });
  } catch (err) {
    printErrors(io, err instanceof ConfigError ? err.errors : [(err as Error).message]);
    return undefined;
  }
  const errors = validateConfig(res.config);
  if (opts.strict) {
    for (const k of res.unknownKeys) errors.push(`${k}: unknown key in configuration file`);
  }
  if (errors.length > 0) {
    printErrors(io, errors);
    return undefined;
  }
  return res;
}
