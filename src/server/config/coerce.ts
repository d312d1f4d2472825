/**
 * Turns untyped values (parsed file content, env strings, flag values) into typed config values
 * following the schema, collecting errors, unknown keys and warnings instead of throwing.
 */
import type { ArrayNode, LeafNode, ObjectNode, SchemaNode } from './schema-types.js';
import { defaultOf } from './schema.js';
import { parseDuration } from './duration.js';

/** Accumulates problems found while coercing. */
export interface CoerceContext {
  errors: string[];
  warnings: string[];
  unknownKeys: string[];
  /** Environment used for `${CENTRIFUGO_VAR_*}` interpolation inside map values. */
  env: Readonly<Record<string, string | undefined>>;
}

export function newContext(env: Readonly<Record<string, string | undefined>>): CoerceContext {
  return { errors: [], warnings: [], unknownKeys: [], env };
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go `strconv.ParseBool`. */
export function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

const describe = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * Coerces a value taken from a config file (or a JSON env value) for `node`, merging over `base`
 * (the current value, defaults for a fresh load). Objects merge key by key; arrays replace.
 */
export function coerceValue(
  node: SchemaNode,
  value: unknown,
  path: string,
  ctx: CoerceContext,
  base: unknown = defaultOf(node),
): unknown {
  switch (node.kind) {
    case 'object':
      return coerceObject(node, value, path, ctx, base);
    case 'array':
      return coerceArray(node, value, path, ctx);
    default:
      return coerceLeaf(node, value, path, ctx, base);
  }
}

function coerceObject(
  node: ObjectNode,
  value: unknown,
  path: string,
  ctx: CoerceContext,
  base: unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(base)
    ? { ...base }
    : (defaultOf(node) as Record<string, unknown>);
  if (value === null || value === undefined) return out;
  if (!isPlainObject(value)) {
    ctx.errors.push(`${path}: must be an object, got ${describe(value)}`);
    return out;
  }
  for (const [rawKey, v] of Object.entries(value)) {
    // Keys are case-insensitive like Centrifugo's loader (it lower-cases every file key).
    const key = rawKey.toLowerCase();
    const child = node.fields[key];
    const childPath = path ? `${path}.${key}` : key;
    if (!child) {
      ctx.unknownKeys.push(path ? `${path}.${rawKey}` : rawKey);
      continue;
    }
    out[key] = coerceValue(child, v, childPath, ctx, out[key]);
  }
  return out;
}

function coerceArray(node: ArrayNode, value: unknown, path: string, ctx: CoerceContext): unknown[] {
  let v = value;
  if (v === null || v === undefined) return [];
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      ctx.errors.push(`${path}: must be a JSON array of objects`);
      return [];
    }
  }
  if (!Array.isArray(v)) {
    ctx.errors.push(`${path}: must be an array of objects, got ${describe(v)}`);
    return [];
  }
  return v.map((el, i) => coerceObject(node.element, el, `${path}[${i}]`, ctx, undefined));
}

function coerceLeaf(
  node: LeafNode,
  value: unknown,
  path: string,
  ctx: CoerceContext,
  base: unknown,
): unknown {
  if (value === null || value === undefined) return base;
  switch (node.kind) {
    case 'string':
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      break;
    case 'int':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && /^[+-]?\d+$/.test(value.trim())) return Number(value);
      ctx.errors.push(`${path}: must be an integer, got ${describe(value)}`);
      return base;
    case 'bool': {
      if (typeof value === 'boolean') return value;
      const b = typeof value === 'string' ? parseGoBool(value.trim()) : undefined;
      if (b !== undefined) return b;
      ctx.errors.push(`${path}: must be a boolean, got ${describe(value)}`);
      return base;
    }
    case 'duration': {
      if (typeof value === 'number') {
        // Go decodes a bare number into time.Duration as nanoseconds; keep that meaning.
        if (value !== 0 && Math.abs(value) < 1e6) {
          ctx.warnings.push(
            `${path}: number ${value} is read as nanoseconds (Go semantics); write a string like "${value}s"`,
          );
        }
        return value / 1e6;
      }
      if (typeof value === 'string') {
        const ms = parseDuration(value);
        if (ms !== undefined) return ms;
      }
      ctx.errors.push(
        `${path}: invalid duration ${describe(value)} (use a unit: "300ms", "25s", "1m", "720h")`,
      );
      return base;
    }
    case 'string[]':
      if (Array.isArray(value)) {
        const out: string[] = [];
        value.forEach((el, i) => {
          if (typeof el === 'string') out.push(el);
          else if (typeof el === 'number' || typeof el === 'boolean') out.push(String(el));
          else ctx.errors.push(`${path}[${i}]: must be a string, got ${describe(el)}`);
        });
        return out;
      }
      if (typeof value === 'string') return value.split(/\s+/).filter((s) => s !== '');
      break;
    case 'map':
      return coerceMap(value, path, ctx, base);
  }
  ctx.errors.push(`${path}: must be ${kindName(node.kind)}, got ${describe(value)}`);
  return base;
}

function kindName(kind: LeafNode['kind']): string {
  return kind === 'string' ? 'a string' : kind === 'string[]' ? 'a list of strings' : kind;
}

const VAR_RE = /\$\{((?:CENTRIFUGO|GYRE)_VAR_[^}]+)\}/g;

function coerceMap(value: unknown, path: string, ctx: CoerceContext, base: unknown): Record<string, string> {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      ctx.errors.push(`${path}: must be a JSON object of strings`);
      return base as Record<string, string>;
    }
  }
  const out: Record<string, string> = {};
  const put = (k: string, raw: unknown) => {
    if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
      ctx.errors.push(`${path}.${k}: must be a string, got ${describe(raw)}`);
      return;
    }
    out[k] = String(raw).replace(VAR_RE, (_m, name: string) => {
      const val = ctx.env[name];
      if (val === undefined) {
        ctx.errors.push(`${path}.${k}: environment variable ${name} referenced but not set`);
        return '';
      }
      return val;
    });
  };
  if (Array.isArray(v)) {
    // A list of {key, value} pairs keeps the key's case (Centrifugo's StringKeyValues form).
    v.forEach((el, i) => {
      if (isPlainObject(el) && typeof el['key'] === 'string') put(el['key'], el['value']);
      else ctx.errors.push(`${path}[${i}]: must be an object {"key": ..., "value": ...}`);
    });
    return out;
  }
  if (!isPlainObject(v)) {
    ctx.errors.push(`${path}: must be a map of strings, got ${describe(v)}`);
    return base as Record<string, string>;
  }
  for (const [k, raw] of Object.entries(v)) put(k.toLowerCase(), raw);
  return out;
}

/**
 * Parses an env var / CLI flag string for a leaf (Go-like: ints, ParseBool, durations with a unit,
 * []string space-separated, maps and arrays as JSON).
 */
export function coerceString(
  node: SchemaNode,
  text: string,
  path: string,
  ctx: CoerceContext,
  base: unknown,
): unknown {
  switch (node.kind) {
    case 'object':
    case 'array':
    case 'map':
    case 'string[]':
      if (node.kind === 'string[]' && !text.trim().startsWith('[')) {
        return text.split(/\s+/).filter((s) => s !== '');
      }
      try {
        return coerceValue(node, JSON.parse(text), path, ctx, base);
      } catch {
        ctx.errors.push(`${path}: invalid JSON value ${JSON.stringify(text)}`);
        return base;
      }
    case 'duration': {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.errors.push(
          `${path}: invalid duration ${JSON.stringify(text)} (use a unit: "300ms", "25s", "1m", "720h")`,
        );
        return base;
      }
      return ms;
    }
    default:
      return coerceLeaf(node, text, path, ctx, base);
  }
}
