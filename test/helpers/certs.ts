/** Test certificates made with the `openssl` command line tool. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * Writes a self-signed RSA certificate for `CN=localhost`, valid one day, and its key to `dir` as
 * `<name>cert.pem` and `<name>key.pem`; `san` adds a subjectAltName (`IP:127.0.0.1,DNS:localhost`).
 */
export function selfSignedCert(
  dir: string,
  opts: { name?: string; san?: string } = {},
): { key: string; cert: string } {
  const key = join(dir, `${opts.name ?? ''}key.pem`);
  const cert = join(dir, `${opts.name ?? ''}cert.pem`);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1'],
      ...['-subj', '/CN=localhost'],
      ...(opts.san !== undefined ? ['-addext', `subjectAltName=${opts.san}`] : []),
    ],
    { stdio: 'ignore' },
  );
  return { key, cert };
}
