import { loadPem } from '../../util/pem.js';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSConfig } from '../config/index.js';
import type { Router } from './router.js';

/** `https` server options of an enabled TLS object. */
export function tlsOptions(tls: TLSConfig, key: string): https.ServerOptions {
  const opts: https.ServerOptions = {
    cert: loadPem(tls.cert_pem, `${key}.cert_pem`),
    key: loadPem(tls.key_pem, `${key}.key_pem`),
  };
  if (tls.client_ca_pem !== '') {
    opts.ca = loadPem(tls.client_ca_pem, `${key}.client_ca_pem`);
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  }
  return opts;
}

/** One listening HTTP(S) server. */
export interface Listener {
  /** What listens: the HTTP(S) server, or with h2c the TCP server in front of HTTP/1.1 and HTTP/2. */
  server: net.Server;
  address: string;
  port: number;
  /** Stops accepting connections; resolves once every connection of the listener is gone. */
  close(): Promise<void>;
  /** Drops every connection still open (the end of a shutdown). */
  closeAllConnections(): void;
}

/** What an HTTP/2 client sends first on a cleartext connection (RFC 9113 section 3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/**
 * Creates a server for `router`, listens on `address:port` (port 0 = any free port).
 *
 * - With `tls`, HTTP/2 and HTTP/1.1 by ALPN, as Go's server does: browsers get HTTP/2 (many SSE
 *   and HTTP-streaming connections share one TCP connection), other clients HTTP/1.1.
 * - With `h2c` (`http_server.h2c_external`, never with TLS) each connection's first bytes decide:
 *   the HTTP/2 preface goes to an HTTP/2 server (prior knowledge), anything else to HTTP/1.1.
 *
 * HTTP/2 servers advertise extended CONNECT, so WebSocket also runs over their streams (RFC 8441).
 * Requests reach the router through HTTP/2's compatibility API, whose request and response have
 * the fields the handlers use.
 */
export async function listen(
  router: Router,
  address: string,
  port: number,
  tls: https.ServerOptions | undefined,
  h2c = false,
): Promise<Listener> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => router.onRequest(req, res);
  const onH2Request = onRequest as unknown as (
    req: http2.Http2ServerRequest,
    res: http2.Http2ServerResponse,
  ) => void;
  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void =>
    router.onUpgrade(req, socket, head);
  const onClientError = (_err: Error, socket: Duplex): void => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  /** Every accepted connection, whichever protocol it speaks (not for plain HTTP/1.1). */
  const raw = new Set<Duplex>();
  const track = (socket: Duplex): void => {
    raw.add(socket);
    socket.once('close', () => raw.delete(socket));
  };
  const h2Events = (h2: http2.Http2Server | http2.Http2SecureServer): void => {
    h2.on('connect', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) =>
      router.onH2Connect(req, res),
    );
    h2.on('session', (s: http2.ServerHttp2Session) => {
      sessions.add(s);
      s.once('close', () => sessions.delete(s));
    });
  };
  const settings = { enableConnectProtocol: true };

  let server: net.Server;
  let http1: http.Server | undefined;
  if (tls !== undefined) {
    const secure = http2.createSecureServer({ ...tls, allowHTTP1: true, settings }, onH2Request);
    secure.on('upgrade', onUpgrade);
    secure.on('clientError', onClientError);
    secure.on('secureConnection', track);
    h2Events(secure);
    server = secure;
  } else if (h2c) {
    const h1 = http.createServer(onRequest);
    h1.on('upgrade', onUpgrade);
    h1.on('clientError', onClientError);
    const h2 = http2.createServer({ settings }, onH2Request);
    h2Events(h2);
    http1 = h1;
    server = net.createServer((socket) => {
      track(socket);
      sniffProtocol(socket, h1, h2);
    });
  } else {
    const h1 = http.createServer(onRequest);
    h1.on('upgrade', onUpgrade);
    h1.on('clientError', onClientError);
    http1 = h1;
    server = h1;
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (address === '') server.listen(port, done);
    else server.listen(port, address, done);
  });
  const a = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      if (http1 !== undefined && http1 !== server) http1.close(() => undefined);
      http1?.closeIdleConnections();
      // GOAWAY: open streams (SSE, WebSocket) finish as the node ends its clients.
      for (const s of sessions) s.close();
    });
  const closeAllConnections = (): void => {
    http1?.closeAllConnections();
    for (const socket of raw) socket.destroy();
  };
  return { server, address: a.address, port: a.port, close, closeAllConnections };
}

/**
 * Hands `socket` to `h2` if it starts with the HTTP/2 preface, else to `http1`. A connection that
 * does not say which within the HTTP/1.1 server's `headersTimeout` is dropped.
 */
function sniffProtocol(socket: net.Socket, http1: http.Server, h2: http2.Http2Server): void {
  let seen: Buffer | undefined;
  const drop = (): void => {
    socket.destroy();
  };
  socket.setTimeout(http1.headersTimeout, drop);
  const onReadable = (): void => {
    for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
      seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    }
    if (seen === undefined) return;
    const n = Math.min(seen.length, H2_PREFACE.length);
    const h2Start = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (h2Start && seen.length < H2_PREFACE.length) return;
    socket.off('readable', onReadable);
    socket.off('error', drop);
    socket.setTimeout(0);
    socket.off('timeout', drop);
    socket.unshift(seen);
    (h2Start ? h2 : http1).emit('connection', socket);
  };
  socket.on('error', drop);
  socket.on('readable', onReadable);
}

export { loadPem };
