/**
 * Markdown reference of every configuration key, generated from the schema.
 */
import type { ObjectNode, SchemaNode } from './schema-types.js';
import { configSchema, envName } from './schema.js';
import { formatDuration } from './duration.js';

const TYPE: Record<SchemaNode['kind'], string> = {
  string: 'string',
  int: 'int',
  bool: 'bool',
  duration: 'duration',
  'string[]': '[]string',
  map: 'map<string,string>',
  object: 'object',
  array: 'array of objects',
};

function defaultText(node: SchemaNode): string {
  switch (node.kind) {
    case 'object':
      return '';
    case 'array':
      return '`[]`';
    case 'duration':
      return node.default === 0 ? '' : `\`${formatDuration(node.default)}\``;
    case 'string[]':
      return node.default.length === 0 ? '' : `\`${node.default.join(' ')}\``;
    case 'map':
      return '`{}`';
    case 'string':
      return node.default === '' ? '' : `\`${node.default}\``;
    default:
      return node.default === 0 || node.default === false ? '' : `\`${String(node.default)}\``;
  }
}

/**
 * A Markdown table of every key (`x[].field` for array elements) with type, default, env variable
 * and doc. `section` limits output to one top-level key.
 */
export function configDocMarkdown(section?: string): string {
  const rows: string[] = [];
  const walk = (node: ObjectNode, base: string, inArray: boolean) => {
    for (const [k, child] of Object.entries(node.fields)) {
      const path = base ? `${base}.${k}` : k;
      if (!base && section !== undefined && k !== section) continue;
      const shown = child.kind === 'array' ? `${path}[]` : path;
      const env = inArray || child.kind === 'object' ? '' : `\`${envName(path)}\``;
      rows.push(`| \`${shown}\` | ${TYPE[child.kind]} | ${defaultText(child)} | ${env} | ${child.doc} |`);
      if (child.kind === 'object') walk(child, path, inArray);
      if (child.kind === 'array') walk(child.element, `${path}[]`, true);
    }
  };
  walk(configSchema, '', false);
  return [
    '# Gyre configuration reference',
    '',
    'Durations are Go duration strings (`300ms`, `25s`, `1m`, `720h`). Env variables also accept the `GYRE_` prefix.',
    '',
    '| key | type | default | env | doc |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
