import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectionMeta, queryOf, type RequestFacts } from './http.js';

/** A request whose header object and socket count how often they are read. */
function request(headers: RequestFacts['headers'], url?: string) {
  const reads = { headers: 0, remoteAddress: 0 };
  let address: string | undefined = '10.0.0.7';
  const req: RequestFacts = {
    get headers() {
      reads.headers++;
      return headers;
    },
    socket: {
      get remoteAddress() {
        reads.remoteAddress++;
        return address;
      },
    },
  };
  if (url !== undefined) req.url = url;
  return { req, reads, closeSocket: () => (address = undefined) };
}

void describe('connectionMeta', () => {
  void it('copies the headers on first read: lower-case names, arrays joined, no HTTP/2 pseudo-headers', () => {
    const { req, reads } = request(
      {
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        host: 'example.com',
        'x-forwarded-for': ['1.1.1.1', '2.2.2.2'],
        cookie: 'a=1',
        'x-absent': undefined,
      },
      '/connection/websocket?cf_protocol=protobuf',
    );
    const meta = connectionMeta(req);
    assert.equal(reads.headers, 0, 'nothing is copied until a handler asks');
    assert.equal(meta.url, '/connection/websocket?cf_protocol=protobuf');
    assert.deepEqual(meta.headers, {
      host: 'example.com',
      'x-forwarded-for': '1.1.1.1, 2.2.2.2',
      cookie: 'a=1',
    });
    assert.equal(meta.headers, meta.headers, 'one copy, kept');
    assert.equal(reads.headers, 1);
  });

  void it('reads the remote address once, on demand, and keeps it after the socket is gone', () => {
    const { req, reads, closeSocket } = request({ host: 'h' });
    const meta = connectionMeta(req);
    assert.equal(reads.remoteAddress, 0);
    assert.equal(meta.remoteAddress, '10.0.0.7');
    closeSocket();
    assert.equal(meta.remoteAddress, '10.0.0.7');
    assert.equal(reads.remoteAddress, 1);
  });

  void it('takes assigned headers without reading the request (the server trims them after connect)', () => {
    const { req, reads } = request({ host: 'h', cookie: 'secret' });
    const meta = connectionMeta(req);
    meta.headers = { 'x-kept': 'v' };
    assert.deepEqual(meta.headers, { 'x-kept': 'v' });
    assert.equal(reads.headers, 0);
    assert.equal(meta.remoteAddress, '10.0.0.7', 'the address is still there after trimming');
  });

  void it('has no url when the request has none', () => {
    const meta = connectionMeta(request({}).req);
    assert.equal(meta.url, undefined);
    assert.equal('url' in meta, false);
  });
});

void describe('queryOf', () => {
  void it('parses the query of a request URL, and an empty one without', () => {
    assert.equal(
      queryOf({ url: '/connection/websocket?cf_protocol=protobuf&x=1' }).get('cf_protocol'),
      'protobuf',
    );
    assert.equal([...queryOf({ url: '/connection/websocket' })].length, 0);
    assert.equal([...queryOf({})].length, 0);
  });
});
