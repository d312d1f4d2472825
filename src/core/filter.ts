import { ClientError, ErrorCode } from '../protocol/codes.js';
import type { FilterNode } from '../protocol/types.js';

const leafOps = new Set(['eq', 'neq', 'in', 'nin', 'ex', 'nex', 'sw', 'ew', 'ct', 'lt', 'lte', 'gt', 'gte']);
const maxDepth = 32;

/**
 * Checks that a publication tags filter is well formed: `op` is `""`, `and`, `or` or `not`; a leaf
 * has a `key` and a known `cmp`; `in`/`nin` take `vals`; `not` has exactly one child; `and`/`or`
 * have at least one. Throws `ClientError(107)` otherwise.
 */
export function validateFilter(node: FilterNode, depth = 0): void {
  if (depth > maxDepth) throw new ClientError(ErrorCode.badRequest, 'filter too deep');
  const op = node.op ?? '';
  if (op === '') {
    if (!node.key || !node.cmp || !leafOps.has(node.cmp)) {
      throw new ClientError(ErrorCode.badRequest, 'invalid filter');
    }
    if ((node.cmp === 'in' || node.cmp === 'nin') && !node.vals) {
      throw new ClientError(ErrorCode.badRequest, 'invalid filter');
    }
    return;
  }
  const nodes = node.nodes ?? [];
  if (op === 'not') {
    if (nodes.length !== 1) throw new ClientError(ErrorCode.badRequest, 'invalid filter');
  } else if (op === 'and' || op === 'or') {
    if (nodes.length === 0) throw new ClientError(ErrorCode.badRequest, 'invalid filter');
  } else {
    throw new ClientError(ErrorCode.badRequest, 'invalid filter');
  }
  for (const child of nodes) validateFilter(child, depth + 1);
}

function compareNumbers(tag: string | undefined, val: string | undefined, cmp: string): boolean {
  if (tag === undefined || val === undefined || tag.trim() === '' || val.trim() === '') return false;
  const a = Number(tag);
  const b = Number(val);
  if (Number.isNaN(a) || Number.isNaN(b)) return false;
  switch (cmp) {
    case 'lt':
      return a < b;
    case 'lte':
      return a <= b;
    case 'gt':
      return a > b;
    default:
      return a >= b;
  }
}

/** Evaluates a validated filter against publication tags (missing tags = empty map). */
export function matchFilter(node: FilterNode, tags: Record<string, string> | undefined): boolean {
  const op = node.op ?? '';
  if (op === 'and') return (node.nodes ?? []).every((n) => matchFilter(n, tags));
  if (op === 'or') return (node.nodes ?? []).some((n) => matchFilter(n, tags));
  if (op === 'not') {
    const child = node.nodes?.[0];
    return child ? !matchFilter(child, tags) : false;
  }
  const key = node.key ?? '';
  const tag = tags?.[key];
  const val = node.val ?? '';
  switch (node.cmp) {
    case 'eq':
      return tag === val;
    case 'neq':
      return tag !== val;
    case 'in':
      return tag !== undefined && (node.vals ?? []).includes(tag);
    case 'nin':
      return tag === undefined || !(node.vals ?? []).includes(tag);
    case 'ex':
      return tag !== undefined;
    case 'nex':
      return tag === undefined;
    case 'sw':
      return tag !== undefined && tag.startsWith(val);
    case 'ew':
      return tag !== undefined && tag.endsWith(val);
    case 'ct':
      return tag !== undefined && tag.includes(val);
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte':
      return compareNumbers(tag, node.val, node.cmp);
    default:
      return false;
  }
}
