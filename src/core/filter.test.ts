import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../protocol/codes.js';
import type { FilterNode } from '../protocol/types.js';
import { matchFilter, validateFilter } from './filter.js';

const tags = { kind: 'news', region: 'eu-west', n: '10', empty: '' };
const leaf = (cmp: string, val?: string, key = 'kind', vals?: string[]): FilterNode => {
  const f: FilterNode = { key, cmp };
  if (val !== undefined) f.val = val;
  if (vals !== undefined) f.vals = vals;
  return f;
};

void describe('tags filter', () => {
  const cases: [FilterNode, boolean][] = [
    [leaf('eq', 'news'), true],
    [leaf('eq', 'sport'), false],
    [leaf('neq', 'sport'), true],
    [leaf('in', undefined, 'kind', ['a', 'news']), true],
    [leaf('in', undefined, 'kind', ['a']), false],
    [leaf('nin', undefined, 'kind', ['a']), true],
    [leaf('nin', undefined, 'kind', ['news']), false],
    [leaf('ex', undefined), true],
    [leaf('ex', undefined, 'missing'), false],
    [leaf('nex', undefined, 'missing'), true],
    [leaf('sw', 'eu', 'region'), true],
    [leaf('ew', 'west', 'region'), true],
    [leaf('ct', '-w', 'region'), true],
    [leaf('ct', 'x', 'region'), false],
    [leaf('lt', '11', 'n'), true],
    [leaf('lte', '10', 'n'), true],
    [leaf('gt', '10', 'n'), false],
    [leaf('gte', '10', 'n'), true],
    [leaf('gt', '1', 'kind'), false],
    [leaf('lt', '1', 'missing'), false],
    [{ op: 'and', nodes: [leaf('eq', 'news'), leaf('sw', 'eu', 'region')] }, true],
    [{ op: 'and', nodes: [leaf('eq', 'news'), leaf('sw', 'us', 'region')] }, false],
    [{ op: 'or', nodes: [leaf('eq', 'x'), leaf('sw', 'eu', 'region')] }, true],
    [{ op: 'not', nodes: [leaf('eq', 'news')] }, false],
  ];
  for (const [f, want] of cases) {
    void it(`${JSON.stringify(f)} => ${want}`, () => {
      validateFilter(f);
      assert.equal(matchFilter(f, tags), want);
    });
  }

  void it('rejects malformed trees with 107', () => {
    const bad: FilterNode[] = [
      { op: 'xor', nodes: [leaf('eq', 'a')] },
      { op: 'not', nodes: [] },
      { op: 'and', nodes: [] },
      { key: 'k', cmp: 'like' },
      { cmp: 'eq', val: 'x' },
      { key: 'k', cmp: 'in' },
    ];
    for (const f of bad) {
      assert.throws(
        () => validateFilter(f),
        (e: unknown) => e instanceof ClientError && e.code === 107,
      );
    }
  });
});
