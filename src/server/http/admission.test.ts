import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAdmission } from './admission.js';

void describe('connection admission', () => {
  it('refuses past the open-connection limit', () => {
    let open = 0;
    const admit = createAdmission({ connectionLimit: 2, rateLimit: 0, openConnections: () => open });
    assert.equal(admit(), true);
    open = 2;
    assert.equal(admit(), false);
    open = 1;
    assert.equal(admit(), true);
  });

  it('lets through at most the rate per second, refilling over time', () => {
    let clock = 0;
    const admit = createAdmission({
      connectionLimit: 0,
      rateLimit: 3,
      openConnections: () => 0,
      now: () => clock,
    });
    assert.deepEqual([admit(), admit(), admit(), admit()], [true, true, true, false]);
    clock += 340; // about one token back
    assert.deepEqual([admit(), admit()], [true, false]);
    clock += 5000; // never more than a second's worth
    assert.deepEqual([admit(), admit(), admit(), admit()], [true, true, true, false]);
  });

  it('admits everyone when both limits are off', () => {
    const admit = createAdmission({ connectionLimit: 0, rateLimit: 0, openConnections: () => 1e9 });
    for (let i = 0; i < 100; i++) assert.equal(admit(), true);
  });
});
