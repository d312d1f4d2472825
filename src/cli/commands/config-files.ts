import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { unlink, writeFile } from 'node:fs/promises';
import {
  ConfigError,
  configFormat,
  configSchema,
  defaultConfig,
  envLines,
  loadConfig,
  stringifyConfig,
  toFileValue,
  validateConfig,
} from '../../server/config/index.js';
import type { Config } from '../../server/config/index.js';
import type { CliIO } from '../io.js';
import { loadValid, printErrors } from '../common.js';
import { noopLogger } from '../../core/logger.js';
import { checkWorkersConfig, workerCount, WORKERS_ENV } from '../../server/workers.js';
import { exporterSettings } from '../../server/tracing.js';

const secret = (bytes: number) => randomBytes(bytes).toString('base64url');

/** The minimal config `genconfig` writes, with fresh random secrets. */
export function minimalConfig(): Record<string, unknown> {
  return {
    client: { token: { hmac_secret_key: secret(64) }, allowed_origins: [] },
    admin: { enabled: false, password: secret(16), secret: secret(64) },
    http_api: { key: secret(64) },
  };
}

/** `gyre genconfig -c <file>`: writes a minimal config; never overwrites; validates the result. */
export async function runGenconfig(io: CliIO, file: string): Promise<number> {
  let format: ReturnType<typeof configFormat>;
  try {
    format = configFormat(file);
  } catch (err) {
    printErrors(io, (err as ConfigError).errors);
    return 1;
  }
  if (existsSync(file)) {
    printErrors(io, [`output config file already exists: ${file}`]);
    return 1;
  }
  await writeFile(file, stringifyConfig(minimalConfig(), format), { flag: 'wx' });
  const res = await loadValid(io, { file, fileRequired: true, env: {}, dotenvDir: false });
  if (!res) {
    await unlink(file).catch(() => undefined);
    return 1;
  }
  io.out(`Configuration file created: ${file}\n`);
  return 0;
}

/** `gyre checkconfig -c <file> [-s]`. */
export async function runCheckconfig(io: CliIO, file: string, strict: boolean): Promise<number> {
  const res = await loadValid(io, { file, fileRequired: true, strict });
  if (!res) return 1;
  for (const w of res.warnings) io.err(`warning: ${w}\n`);
  // GYRE_WORKERS (Gyre only) and, with tracing on, the OTEL_* exporter variables are checked as
  // `gyre serve` checks them at start-up.
  try {
    if (res.config.opentelemetry.enabled) exporterSettings(io.env ?? process.env);
    const warn = (_obj: object, msg?: string) => io.err(`warning: ${msg ?? ''}\n`);
    const logger = { ...noopLogger, warn, error: warn };
    checkWorkersConfig(res.config, workerCount(undefined, io.env ?? process.env), logger, WORKERS_ENV);
  } catch (err) {
    printErrors(io, [(err as Error).message]);
    return 1;
  }
  io.out(`Configuration file ${file} is valid\n`);
  return 0;
}

/** Full config from the base file (no env), or defaults when no base is given. */
async function baseConfig(io: CliIO, base: string | undefined): Promise<Config | undefined> {
  if (base === undefined) return defaultConfig();
  try {
    const res = await loadConfig({ file: base, fileRequired: true, env: {}, dotenvDir: false });
    for (const w of res.warnings) io.err(`warning: ${w}\n`);
    const errors = validateConfig(res.config);
    if (errors.length > 0) {
      printErrors(io, errors);
      return undefined;
    }
    return res.config;
  } catch (err) {
    printErrors(io, err instanceof ConfigError ? err.errors : [(err as Error).message]);
    return undefined;
  }
}

/** `gyre defaultconfig -c <file> [-b base] [-d]`: every key at its default (or base value). */
export async function runDefaultconfig(
  io: CliIO,
  opts: { config: string; base?: string; dryRun?: boolean },
): Promise<number> {
  let format: ReturnType<typeof configFormat>;
  try {
    format = configFormat(opts.config);
  } catch (err) {
    printErrors(io, (err as ConfigError).errors);
    return 1;
  }
  const config = await baseConfig(io, opts.base);
  if (!config) return 1;
  const text = stringifyConfig(toFileValue(configSchema, config), format);
  if (opts.dryRun) {
    io.out(text);
    return 0;
  }
  if (existsSync(opts.config)) {
    printErrors(io, [`output config file already exists: ${opts.config}`]);
    return 1;
  }
  await writeFile(opts.config, text, { flag: 'wx' });
  io.out(`Configuration file created: ${opts.config}\n`);
  return 0;
}

/** `gyre defaultenv [-b base] [--base-non-zero-only]`. */
export async function runDefaultenv(
  io: CliIO,
  opts: { base?: string; baseNonZeroOnly?: boolean },
): Promise<number> {
  const config = await baseConfig(io, opts.base);
  if (!config) return 1;
  const lines = envLines(config, { nonZeroOnly: opts.base !== undefined && opts.baseNonZeroOnly === true });
  io.out(lines.map((l) => `${l}\n`).join(''));
  return 0;
}
