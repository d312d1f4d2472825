import { existsSync, readFileSync } from 'node:fs';

/** A TLS object of the configuration (`http_server.tls`, `engine.redis.tls`, `grpc_api.tls`, ...). */
export interface TlsSettings {
  enabled: boolean;
  cert_pem: string;
  key_pem: string;
  server_ca_pem: string;
  client_ca_pem: string;
  insecure_skip_verify: boolean;
  server_name: string;
}

/**
 * Reads a PEM given as raw PEM text, base64-encoded PEM, or a file path (tried in that order, as
 * Centrifugo does). Throws, naming `what`, when none of them yields PEM.
 */
export function loadPem(value: string, what: string): Buffer {
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  const trimmed = value.trim();
  if (/^[A-Za-z0-9+/=\s]+$/.test(trimmed) && trimmed.length % 4 === 0) {
    const decoded = Buffer.from(trimmed, 'base64');
    if (decoded.toString('utf8').includes('-----BEGIN')) return decoded;
  }
  if (existsSync(value)) return readFileSync(value);
  throw new Error(`${what}: not a PEM, base64 PEM or readable file`);
}
