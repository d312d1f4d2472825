import { loadPem } from '../../util/pem.js';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
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
  server: http.Server;
  address: string;
  port: number;
}

/** Creates a server for `router`, listens on `address:port` (port 0 = any free port). */
export async function listen(
  router: Router,
  address: string,
  port: number,
  tls: https.ServerOptions | undefined,
): Promise<Listener> {
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => router.onRequest(req, res);
  const server: http.Server = tls ? https.createServer(tls, onRequest) : http.createServer(onRequest);
  server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) =>
    router.onUpgrade(req, socket, head),
  );
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
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
  return { server, address: a.address, port: a.port };
}

/** Stops accepting connections; resolves once every connection of the server is gone. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

export { loadPem };
