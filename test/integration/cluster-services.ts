import { connect } from 'node:net';

/** True when a TCP connection to host:port opens within `timeoutMs`. */
export function reachable(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Whether tests needing `what` at port run: yes when reachable; when not, a failure under
 * `CI=true` (thrown) and a skip with a clear message (returned string) elsewhere.
 */
export async function serviceSkip(what: string, port: number): Promise<string | false> {
  if (await reachable(port)) return false;
  const msg = `${what} is not reachable at 127.0.0.1:${port} (see shared/services.md to start it)`;
  if (process.env.CI === 'true') throw new Error(msg);
  return msg;
}
