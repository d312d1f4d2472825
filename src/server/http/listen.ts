import { loadPem } from '../../util/pem.js';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
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
 * Creates a server for `router`, listens on `address:port` (port 0 = any free port). With `h2c`
 * (`http_server.h2c_external`, never with TLS) each connection's first bytes decide: the HTTP/2
 * preface goes to an HTTP/2 server (prior knowledge; extended CONNECT on, so WebSocket runs over
 * its streams as RFC 8441 has it), anything else to the HTTP/1.1 server.
 */
export async function listen(
  router: Router,
  address: string,
  port: number,
  tls: https.ServerOptions | undefined,
  h2c = false,
): Promise<Listener> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => router.onRequest(req, res);
  const http1: http.Server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  http1.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) =>
    router.onUpgrade(req, socket, head),
  );
  http1.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  let server: net.Server = http1;
  const sessions = new Set<http2.ServerHttp2Session>();
  /** With h2c: every accepted TCP connection, whichever server it went to. */
  const raw = new Set<net.Socket>();
  if (h2c && tls === undefined) {
    // The compat API's request and response stand in for HTTP/1.1's (same fields the handlers use).
    const h2 = http2.createServer(
      { settings: { enableConnectProtocol: true } },
      onRequest as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    h2.on('connect', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) =>
      router.onH2Connect(req, res),
    );
    h2.on('session', (s: http2.ServerHttp2Session) => {
      sessions.add(s);
      s.once('close', () => sessions.delete(s));
    });
    server = net.createServer((socket) => {
      raw.add(socket);
      socket.once('close', () => raw.delete(socket));
      sniffProtocol(socket, http1, h2);
    });
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
      if (server !== http1) http1.close(() => undefined);
      http1.closeIdleConnections();
      // GOAWAY: open streams (SSE, WebSocket) finish as the node ends its clients.
      for (const s of sessions) s.close();
    });
  const closeAllConnections = (): void => {
    http1.closeAllConnections();
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
