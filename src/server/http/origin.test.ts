import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, GlobSyntaxError } from './glob.js';
import { createOriginCheck } from './origin.js';

describe('createOriginCheck', () => {
  const table: [string[], string | undefined, boolean][] = [
    [[], undefined, true],
    [[], '', true],
    [[], 'https://example.com', false],
    [['*'], 'https://anything.example', true],
    [['*'], undefined, true],
    [['https://example.com'], 'https://example.com', true],
    [['https://example.com'], 'HTTPS://EXAMPLE.COM', true],
    [['https://Example.com'], 'https://example.com', true],
    [['https://example.com'], 'https://example.com:8080', false],
    [['https://example.com'], 'http://example.com', false],
    [['https://*.example.com'], 'https://app.example.com', true],
    [['https://*.example.com'], 'https://example.com', false],
    [['http://localhost:*'], 'http://localhost:3000', true],
    [['http://localhost:300?'], 'http://localhost:3001', true],
    [['http://localhost:300?'], 'http://localhost:30011', false],
    [['https://{a,b}.example.com'], 'https://b.example.com', true],
    [['https://{a,b}.example.com'], 'https://c.example.com', false],
    [['https://[ab].example.com'], 'https://a.example.com', true],
    [['https://[!ab].example.com'], 'https://a.example.com', false],
    [['https://one.com', 'https://two.com'], 'https://two.com', true],
  ];
  for (const [patterns, origin, ok] of table) {
    it(`${JSON.stringify(patterns)} ${origin === undefined ? '(no Origin)' : origin} => ${ok ? 'allowed' : 'rejected'}`, () => {
      assert.equal(createOriginCheck(patterns)(origin), ok);
    });
  }

  it('rejects a malformed pattern at build time', () => {
    assert.throws(() => createOriginCheck(['https://[abc']), GlobSyntaxError);
  });
});

describe('compileGlob', () => {
  it('matches channel-style patterns', () => {
    assert.equal(compileGlob('chat:*')('chat:room1'), true);
    assert.equal(compileGlob('chat:*')('news:room1'), false);
    assert.equal(compileGlob('*room?')('chat:room1'), true);
    assert.equal(compileGlob('a.b')('aXb'), false, '. is literal');
    assert.equal(compileGlob('\\*')('*'), true);
    assert.equal(compileGlob('\\*')('x'), false);
    assert.equal(compileGlob('[a-c]x')('bx'), true);
    assert.equal(compileGlob('[a-c]x')('dx'), false);
    assert.equal(compileGlob('{chat,news}:*')('news:1'), true);
  });
});
