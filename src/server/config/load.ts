/**
 * Loading: config file (JSON/YAML/TOML) < environment (`CENTRIFUGO_*`, `GYRE_*`) < CLI flags.
 */
import { readFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parse as parseToml } from 'smol-toml';
import type { Config } from './types.js';
import type { ArrayNode, ObjectNode, SchemaNode } from './schema-types.js';
import { configSchema, nodeAt } from './schema.js';
import { coerceString, coerceValue, newContext } from './coerce.js';
import type { CoerceContext } from './coerce.js';

/** Options of {@link loadConfig}. */
export interface LoadOptions {
  /** Config file path (`-c`); default `config.json`. `''` = no file. */
  file?: string;
  /** A missing file is an error (checkconfig) instead of a warning (server). */
  fileRequired?: boolean;
  /** Environment to read; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory searched for `.env` (default `process.cwd()`); `false` disables `.env` loading. */
  dotenvDir?: string | false;
  /** Key path ⇒ value overrides with the highest priority (CLI flags). Strings are parsed like env. */
  flags?: Readonly<Record<string, string | number | boolean | undefined>>;
}

/** Result of {@link loadConfig}. */
export interface LoadResult {
  config: Config;
  /** Human-readable warnings (missing file, unknown keys/env vars, suspicious values). */
  warnings: string[];
  /** Unknown key paths found in the file (`checkconfig --strict` fails on them). */
  unknownKeys: string[];
  /** Unknown `CENTRIFUGO_*` / `GYRE_*` env var names. */
  unknownEnvs: string[];
  /** Absolute path of the file actually read. */
  file?: string;
}

/** Thrown by {@link loadConfig} for unreadable files and type errors; `errors` lists them all. */
export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Formats a file's extension to the parser, or throws for unsupported ones. */
export function configFormat(file: string): 'json' | 'yaml' | 'toml' {
  const ext = extname(file).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.toml') return 'toml';
  throw new ConfigError([
    `unsupported config file extension "${ext || file}": use .json, .yaml, .yml or .toml`,
  ]);
}

/** Parses config file text in the given format. */
export function parseConfigText(text: string, format: 'json' | 'yaml' | 'toml'): unknown {
  if (format === 'json') return text.trim() === '' ? {} : JSON.parse(text);
  if (format === 'yaml') return parseYaml(text) ?? {};
  return parseToml(text);
}

/**
 * Loads the configuration. Contract: returns a complete {@link Config} (defaults filled, durations
 * in ms) or throws {@link ConfigError} listing every type/parse error. Semantic validation is a
 * separate step: {@link import('./validate.js').validateConfig}.
 */
export async function loadConfig(opts: LoadOptions = {}): Promise<LoadResult> {
  const env = withDotenv(opts.env ?? process.env, opts.dotenvDir ?? process.cwd());
  const ctx = newContext(env);
  const result: Omit<LoadResult, 'config'> = { warnings: [], unknownKeys: [], unknownEnvs: [] };

  let raw: unknown = {};
  const file = opts.file ?? 'config.json';
  if (file !== '') {
    const abs = resolve(file);
    const format = configFormat(file);
    let text: string | undefined;
    try {
      text = await readFile(abs, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError([`error reading config file ${file}: ${(err as Error).message}`]);
      }
      if (opts.fileRequired) throw new ConfigError([`config file not found: ${file}`]);
      result.warnings.push(`config file not found: ${file}`);
    }
    if (text !== undefined) {
      try {
        raw = parseConfigText(text, format);
      } catch (err) {
        throw new ConfigError([`error parsing config file ${file}: ${(err as Error).message}`]);
      }
      result.file = abs;
    }
  }

  const config = coerceValue(configSchema, raw, '', ctx) as Record<string, unknown>;
  result.unknownKeys = ctx.unknownKeys;
  for (const k of ctx.unknownKeys) result.warnings.push(`unknown key in configuration file: ${k}`);

  const flagPaths = new Set(Object.keys(opts.flags ?? {}));
  result.unknownEnvs = applyEnv(config, env, ctx, flagPaths);
  for (const e of result.unknownEnvs) result.warnings.push(`unknown environment variable: ${e}`);

  for (const [path, value] of Object.entries(opts.flags ?? {})) {
    if (value === undefined) continue;
    const node = nodeAt(path);
    if (!node) {
      ctx.errors.push(`unknown flag key: ${path}`);
      continue;
    }
    setPath(config, path, (base) =>
      typeof value === 'string'
        ? coerceString(node, value, path, ctx, base)
        : coerceValue(node, value, path, ctx, base),
    );
  }

  result.warnings.push(...ctx.warnings);
  if (ctx.errors.length > 0) throw new ConfigError(ctx.errors);
  return { config: config as unknown as Config, ...result };
}

/** Env vars used by Centrifugo but never warned about. */
const K8S_RE = /^(?:CENTRIFUGO|GYRE)(?:_[A-Z0-9_]+)?_(?:PORT|SERVICE_)/;

/** Name suffix of an array element in env vars: upper-cased, `.` and `-` become `_`. */
export function nameForEnv(name: string): string {
  return name.toUpperCase().replace(/[.-]/g, '_');
}

/**
 * Applies env overrides in place and returns unknown env var names. Keys set by flags are skipped
 * (flags win anyway). `GYRE_X` wins over `CENTRIFUGO_X`.
 */
function applyEnv(
  config: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  ctx: CoerceContext,
  flagPaths: Set<string>,
): string[] {
  const known = new Set<string>();
  known.add('GYRE_WORKERS'); // read by `gyre serve`, not a config key
  const lookup = (suffix: string): { name: string; value: string } | undefined => {
    for (const prefix of ['GYRE_', 'CENTRIFUGO_']) {
      const name = prefix + suffix;
      known.add(name);
      const v = env[name];
      if (v !== undefined && v !== '') return { name, value: v };
    }
    return undefined;
  };

  const apply = (node: SchemaNode, path: string, target: Record<string, unknown>, key: string) => {
    const suffix = path.toUpperCase().replace(/\./g, '_');
    const hit = lookup(suffix);
    if (!hit) return;
    const label = `${path} (from ${hit.name})`;
    if (node.kind === 'array' && node.named && !hit.value.trim().startsWith('[')) {
      // Space-separated names create elements to be completed by per-name variables.
      target[key] = hit.value
        .split(/\s+/)
        .filter((s) => s !== '')
        .map((name) => coerceValue(node.element, { name }, label, ctx, undefined));
      return;
    }
    target[key] = coerceString(node, hit.value, label, ctx, target[key]);
  };

  const walk = (node: ObjectNode, base: string, target: Record<string, unknown>, keyBase: string) => {
    for (const [key, child] of Object.entries(node.fields)) {
      const path = base ? `${base}.${key}` : key;
      const envPath = keyBase ? `${keyBase}.${key}` : key;
      if (flagPaths.has(path)) {
        // Flags win; the env var is still a known name (no "unknown variable" warning).
        lookup(envPath.toUpperCase().replace(/\./g, '_'));
        continue;
      }
      if (child.kind === 'object') {
        walk(child, path, target[key] as Record<string, unknown>, envPath);
      } else {
        apply(child, envPath, target, key);
      }
    }
  };
  walk(configSchema, '', config, '');

  // Per-name element overrides: CENTRIFUGO_CHANNEL_NAMESPACES_<NAME>_<OPTION> etc.
  const named: Array<[string, ArrayNode, unknown]> = [
    ['channel.namespaces', nodeAt('channel.namespaces') as ArrayNode, getPath(config, 'channel.namespaces')],
    ['rpc.namespaces', nodeAt('rpc.namespaces') as ArrayNode, getPath(config, 'rpc.namespaces')],
    ['proxies', nodeAt('proxies') as ArrayNode, config['proxies']],
    ['consumers', nodeAt('consumers') as ArrayNode, config['consumers']],
  ];
  for (const [path, node, items] of named) {
    if (!Array.isArray(items)) continue;
    items.forEach((item: Record<string, unknown>, i) => {
      const name = typeof item['name'] === 'string' ? item['name'] : '';
      if (name === '') return;
      const elementPath = `${path}.${nameForEnv(name)}`;
      const sub: ObjectNode = {
        ...node.element,
        fields: Object.fromEntries(Object.entries(node.element.fields).filter(([k]) => k !== 'name')),
      };
      walkElement(sub, `${path}[${i}]`, item, elementPath);
    });
  }

  function walkElement(node: ObjectNode, path: string, target: Record<string, unknown>, envPath: string) {
    for (const [key, child] of Object.entries(node.fields)) {
      if (child.kind === 'object') {
        walkElement(child, `${path}.${key}`, target[key] as Record<string, unknown>, `${envPath}.${key}`);
      } else {
        const suffix = `${envPath}.${key}`.toUpperCase().replace(/\./g, '_');
        const hit = lookup(suffix);
        if (!hit) continue;
        target[key] = coerceString(child, hit.value, `${path}.${key} (from ${hit.name})`, ctx, target[key]);
      }
    }
  }

  const unknown: string[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('CENTRIFUGO_') && !name.startsWith('GYRE_')) continue;
    if (known.has(name)) continue;
    if (/^(?:CENTRIFUGO|GYRE)_VAR_/.test(name) || K8S_RE.test(name)) continue;
    unknown.push(name);
  }
  return unknown.sort();
}

function getPath(obj: Record<string, unknown>, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) cur = (cur as Record<string, unknown>)[p];
  return cur;
}

function setPath(obj: Record<string, unknown>, path: string, make: (base: unknown) => unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) cur = cur[p] as Record<string, unknown>;
  const last = parts[parts.length - 1] as string;
  cur[last] = make(cur[last]);
}

/** The variables of the `.env` file of `dir`, or none when it has no such file. */
function readDotenv(dir: string): Record<string, string> {
  const path = resolve(dir, '.env');
  return existsSync(path) ? parseDotenv(readFileSync(path, 'utf8')) : {};
}

/** Per environment object, the names {@link exportDotenv} set in it from a `.env` file. */
const exportedFromDotenv = new WeakMap<object, Set<string>>();

/**
 * Returns `env` merged over the `.env` file of `dir` (existing variables win). Variables that
 * `exportDotenv` put into `env` still count as the file's: the file as it is now decides them, so
 * a reload sees an edited `.env`.
 */
function withDotenv(
  env: Readonly<Record<string, string | undefined>>,
  dir: string | false,
): Readonly<Record<string, string | undefined>> {
  if (dir === false) return env;
  const parsed = readDotenv(dir);
  const exported = exportedFromDotenv.get(env);
  const own = Object.entries(env).filter(([k, v]) => v !== undefined && exported?.has(k) !== true);
  return { ...parsed, ...Object.fromEntries(own) };
}

/**
 * Loads the `.env` file of `dir` into `env` (the process environment by default): each variable
 * not already set is set, as Centrifugo's automatic `.env` loading does, so what reads the
 * environment itself (the OpenTelemetry exporters' `OTEL_*`, worker processes) sees them too.
 * Returns the names it set.
 */
export function exportDotenv(dir: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = [];
  for (const [k, v] of Object.entries(readDotenv(dir))) {
    if (env[k] !== undefined) continue;
    env[k] = v;
    set.push(k);
  }
  if (set.length > 0) {
    const exported = exportedFromDotenv.get(env) ?? new Set<string>();
    for (const k of set) exported.add(k);
    exportedFromDotenv.set(env, exported);
  }
  return set;
}

/** Minimal `.env` parser: `KEY=value`, optional `export `, quotes, `#` comments. */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2] ?? '';
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q) && value.length >= 2) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"');
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    out[m[1] as string] = value;
  }
  return out;
}
