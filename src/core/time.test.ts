import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ttlUntil } from './time.js';

it('ttl rounds down from the exact time and never reaches zero', () => {
  const now = Date.now() / 1000;
  // 100 s from the start of this second: less than 100 s are left, so 99 (100 only exactly on it).
  const ttl = ttlUntil(Math.floor(now) + 100);
  assert.ok(ttl === 99 || ttl === 100, String(ttl));
  assert.equal(ttlUntil(Math.ceil(now)), 1, 'less than a second left still says 1');
});
