import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TlsSettings as TLSConfig } from '../../util/pem.js';
import { loadPem } from '../../util/pem.js';

/**
 * Absolute path of a `.proto` shipped beside the sources. `rel` is resolved against `base`
 * (`import.meta.url` of the caller); when running from the `tsc` build (`dist/src/...`, where
 * `.proto` files are not copied) the same file under `src/` is used instead.
 */
export function protoPath(base: string, rel: string): string {
  const p = fileURLToPath(new URL(rel, base));
  if (existsSync(p)) return p;
  const fromSrc = p.replace(`${sep}dist${sep}src${sep}`, `${sep}src${sep}`);
  if (existsSync(fromSrc)) return fromSrc;
  throw new Error(`proto file not found: ${p}`);
}

/** Server credentials of a `tls` config object: insecure unless enabled; mTLS with `client_ca_pem`. */
export function grpcCredentials(tls: TLSConfig, key: string): grpc.ServerCredentials {
  if (!tls.enabled) return grpc.ServerCredentials.createInsecure();
  const pair = {
    cert_chain: loadPem(tls.cert_pem, `${key}.cert_pem`),
    private_key: loadPem(tls.key_pem, `${key}.key_pem`),
  };
  const ca = tls.client_ca_pem !== '' ? loadPem(tls.client_ca_pem, `${key}.client_ca_pem`) : null;
  return grpc.ServerCredentials.createSsl(ca, [pair], ca !== null);
}

/** grpc-js server options for a `max_receive_message_size` setting (0 = library default). */
export function grpcServerOptions(maxReceive: number): grpc.ServerOptions {
  return maxReceive > 0 ? { 'grpc.max_receive_message_length': maxReceive } : {};
}

/**
 * Binds `server` on `address:port` (port 0 = a free port). An empty address means every
 * interface: IPv6 and IPv4 (`[::]`), or IPv4 only (`0.0.0.0`) where IPv6 is unavailable.
 */
export async function bindGrpc(
  server: grpc.Server,
  address: string,
  port: number,
  creds: grpc.ServerCredentials,
): Promise<number> {
  if (address !== '') return bindOnce(server, address.includes(':') ? `[${address}]` : address, port, creds);
  try {
    return await bindOnce(server, '[::]', port, creds);
  } catch {
    return bindOnce(server, '0.0.0.0', port, creds);
  }
}

function bindOnce(
  server: grpc.Server,
  host: string,
  port: number,
  creds: grpc.ServerCredentials,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, creds, (err, bound) => {
      if (err !== null) reject(err);
      else resolve(bound);
    });
  });
}

/**
 * Stops `server`: refuses new calls and waits for running ones, then cancels whatever is still
 * running after `graceMs`.
 */
export function shutdownGrpc(server: grpc.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
