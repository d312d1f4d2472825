/**
 * Writing configuration back out: file text (JSON/YAML/TOML) with durations as Go strings, and
 * `CENTRIFUGO_*` env lines. Used by `genconfig`, `defaultconfig` and `defaultenv`.
 */
import { stringify as stringifyYaml } from 'yaml';
import { stringify as stringifyToml } from 'smol-toml';
import type { ObjectNode, SchemaNode } from './schema-types.js';
import { configSchema, envName } from './schema.js';
import { formatDuration } from './duration.js';

/** `value` (typed config or a part of it) as plain file data: durations become `"25s"` strings. */
export function toFileValue(node: SchemaNode, value: unknown): unknown {
  switch (node.kind) {
    case 'object': {
      const obj = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const [k, child] of Object.entries(node.fields)) {
        if (obj[k] !== undefined) out[k] = toFileValue(child, obj[k]);
      }
      return out;
    }
    case 'array':
      return (value as unknown[]).map((el) => toFileValue(node.element, el));
    case 'duration':
      return formatDuration(value as number);
    default:
      return value;
  }
}

/** Serializes plain file data in a format. */
export function stringifyConfig(data: unknown, format: 'json' | 'yaml' | 'toml'): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  if (format === 'yaml') return stringifyYaml(data);
  return `${stringifyToml(data)}\n`;
}

/** Options of {@link envLines}. */
export interface EnvLinesOptions {
  /** Only keys whose value differs from the zero value of their type. */
  nonZeroOnly?: boolean;
}

/**
 * Every key of `config` as a `CENTRIFUGO_<PATH>="<value>"` line, in schema order. Values use the
 * env syntax: durations as Go strings, []string space-separated, maps and arrays as JSON.
 */
export function envLines(config: unknown, opts: EnvLinesOptions = {}): string[] {
  const out: string[] = [];
  const walk = (node: ObjectNode, value: Record<string, unknown>, base: string) => {
    for (const [k, child] of Object.entries(node.fields)) {
      const path = base ? `${base}.${k}` : k;
      const v = value[k];
      if (child.kind === 'object') {
        walk(child, v as Record<string, unknown>, path);
        continue;
      }
      if (opts.nonZeroOnly && isZero(v)) continue;
      out.push(`${envName(path)}=${JSON.stringify(envText(child, v))}`);
    }
  };
  walk(configSchema, config as Record<string, unknown>, '');
  return out;
}

function envText(node: SchemaNode, v: unknown): string {
  switch (node.kind) {
    case 'duration':
      return formatDuration(v as number);
    case 'string[]':
      return (v as string[]).join(' ');
    case 'map':
      return JSON.stringify(v);
    case 'array':
      return JSON.stringify(toFileValue(node, v));
    default:
      return String(v);
  }
}

function isZero(v: unknown): boolean {
  if (v === '' || v === 0 || v === false || v === undefined || v === null) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v).length === 0;
  return false;
}
