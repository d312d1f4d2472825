import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { multipartField, formPassword } from './body.js';
import { uiPath } from './static.js';
import {
  ADMIN_TOKEN_TTL_MS,
  createAdminToken,
  passwordMatches,
  requestToken,
  verifyAdminToken,
} from './token.js';

const NOW = 1_700_000_000_000;

function fakeReq(url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}

describe('admin tokens', () => {
  it('a fresh token verifies with its secret until it expires', () => {
    const t = createAdminToken('s3cret', NOW);
    assert.equal(verifyAdminToken('s3cret', t, NOW), true);
    assert.equal(verifyAdminToken('s3cret', t, NOW + ADMIN_TOKEN_TTL_MS - 1000), true);
    assert.equal(verifyAdminToken('s3cret', t, NOW + ADMIN_TOKEN_TTL_MS), false);
    const short = createAdminToken('s3cret', NOW, 60_000);
    assert.equal(verifyAdminToken('s3cret', short, NOW + 59_000), true);
    assert.equal(verifyAdminToken('s3cret', short, NOW + 61_000), false);
  });

  it('is refused with another secret, an empty secret, or when any part is changed', () => {
    const t = createAdminToken('s3cret', NOW);
    assert.equal(verifyAdminToken('other', t, NOW), false);
    assert.equal(verifyAdminToken('', t, NOW), false);
    const [v, exp, mac] = t.split('.') as [string, string, string];
    // Extending the expiry invalidates the MAC.
    assert.equal(verifyAdminToken('s3cret', `${v}.${Number(exp) + 3600}.${mac}`, NOW), false);
    assert.equal(verifyAdminToken('s3cret', `v2.${exp}.${mac}`, NOW), false);
    const flipped = mac.slice(0, -2) + (mac.endsWith('AA') ? 'BB' : 'AA');
    assert.equal(verifyAdminToken('s3cret', `${v}.${exp}.${flipped}`, NOW), false);
    for (const bad of ['', 'garbage', 'v1..', `v1.${exp}`, `v1.-5.${mac}`, `v1.1e9.${mac}`, `${t}.x`]) {
      assert.equal(verifyAdminToken('s3cret', bad, NOW), false, bad);
    }
  });

  it('compares passwords exactly; an empty configured password never matches', () => {
    assert.equal(passwordMatches('pw', 'pw'), true);
    assert.equal(passwordMatches('pw ', 'pw'), false);
    assert.equal(passwordMatches('PW', 'pw'), false);
    assert.equal(passwordMatches('', 'pw'), false);
    assert.equal(passwordMatches('', ''), false);
    assert.equal(passwordMatches('a-much-longer-guess', 'pw'), false);
  });

  it('reads the token from `Authorization: token <t>` or, without that header, from ?token=', () => {
    assert.equal(requestToken(fakeReq('/admin/api', { authorization: 'token abc' })), 'abc');
    assert.equal(requestToken(fakeReq('/admin/api', { authorization: 'TOKEN  abc ' })), 'abc');
    assert.equal(requestToken(fakeReq('/admin/api?token=q1')), 'q1');
    assert.equal(requestToken(fakeReq('/admin/api')), undefined);
    assert.equal(requestToken(fakeReq('/admin/api?token=')), undefined);
    // Any other Authorization form is refused even when the query has a token.
    assert.equal(requestToken(fakeReq('/admin/api?token=q1', { authorization: 'Bearer abc' })), null);
    assert.equal(requestToken(fakeReq('/admin/api', { authorization: 'token' })), null);
    assert.equal(requestToken(fakeReq('/admin/api', { authorization: 'token a b' })), null);
  });
});

describe('admin login form', () => {
  it('takes the password from URL-encoded, JSON and multipart bodies, else from the query', () => {
    const form = fakeReq('/admin/auth', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(formPassword(form, Buffer.from('password=p%26w%3D1&x=2')), 'p&w=1');
    const json = fakeReq('/admin/auth', { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(formPassword(json, Buffer.from('{"password":"j"}')), 'j');
    assert.equal(formPassword(json, Buffer.from('{"password":5}')), '');
    assert.equal(formPassword(json, Buffer.from('not json')), '');
    const body = Buffer.from(
      '--XyZ\r\nContent-Disposition: form-data; name="other"\r\n\r\nno\r\n' +
        '--XyZ\r\nContent-Disposition: form-data; name="password"\r\n\r\nmulti\r\npart\r\n--XyZ--\r\n',
    );
    const mp = fakeReq('/admin/auth', { 'content-type': 'multipart/form-data; boundary="XyZ"' });
    assert.equal(formPassword(mp, body), 'multi\r\npart');
    assert.equal(multipartField(body, 'XyZ', 'missing'), undefined);
    assert.equal(formPassword(fakeReq('/admin/auth?password=q'), Buffer.alloc(0)), 'q');
    // The body wins over the query, as with Go's FormValue.
    const both = fakeReq('/admin/auth?password=q', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(formPassword(both, Buffer.from('password=b')), 'b');
  });
});

describe('admin UI paths', () => {
  it('decodes paths and refuses parent segments, NUL and backslashes', () => {
    assert.deepEqual(uiPath(''), { ok: true, rel: '' });
    assert.deepEqual(uiPath('app.js'), { ok: true, rel: 'app.js' });
    assert.deepEqual(uiPath('a//b/./c%20d.txt'), { ok: true, rel: 'a/b/c d.txt' });
    for (const bad of ['../x', 'a/../../x', '..%2fx', '%2e%2e/x', 'a%00b', 'a%5c..%5cb', '%E0%A4%A']) {
      assert.equal(uiPath(bad).ok, false, bad);
    }
  });
});
