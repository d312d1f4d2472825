/**
 * Debug endpoints (`debug.enabled`, at `debug.handler_prefix`, default `/debug/pprof`), the Node
 * counterpart of the Go pprof endpoints Centrifugo serves there. Node has no pprof, so the
 * profiles are V8's own formats, which Chrome DevTools (Performance / Memory) and speedscope open:
 * - `<prefix>/profile?seconds=N` (default 30, 1-600): a CPU profile of the server process over N
 *   seconds, as `.cpuprofile` JSON; one at a time (409 while another runs);
 * - `<prefix>/heap`: a heap snapshot, as `.heapsnapshot` JSON. Taking it stops the process for as
 *   long as V8 needs to walk the heap (seconds for a large one) and needs memory of the order of
 *   the heap's size;
 * - `<prefix>/`: a page listing both.
 * They read the process's memory: keep them on the internal port, as Centrifugo does.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector';
import { plainError } from '../api/http.js';
import type { HttpEndpoint } from '../http/router.js';

const DEFAULT_SECONDS = 30;
const MAX_SECONDS = 600;

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

function indexPage(base: string): string {
  return `<!DOCTYPE html>
<html lang="en">
  <head><meta charset="UTF-8" /><title>Gyre debug</title></head>
  <body>
    <h1>Gyre debug</h1>
    <ul>
      <li><a href="${base}/profile?seconds=${DEFAULT_SECONDS}">profile</a>: CPU profile over <code>seconds</code> (V8 <code>.cpuprofile</code>)</li>
      <li><a href="${base}/heap">heap</a>: heap snapshot (V8 <code>.heapsnapshot</code>; pauses the process while it is taken)</li>
    </ul>
  </body>
</html>
`;
}

/**
 * The debug endpoints, by path under `prefix` (`''` is the index page), for `endpointsUnder`;
 * `prefix` (normalised) is where the index page's links point.
 */
export function debugEndpoints(prefix: string): Map<string, HttpEndpoint> {
  const base = prefix === '/' ? '' : prefix;
  let profiling = false;
  const out = new Map<string, HttpEndpoint>();
  const getOnly = (handle: HttpEndpoint): HttpEndpoint => {
    return (req: IncomingMessage, res: ServerResponse): void => {
      req.resume();
      if (req.method !== 'GET') {
        res.writeHead(405, { Allow: 'GET' }).end();
        return;
      }
      handle(req, res);
    };
  };

  out.set(
    '',
    getOnly((_req, res) => {
      const body = indexPage(base);
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    }),
  );

  out.set(
    'profile',
    getOnly((req, res) => {
      const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('seconds');
      const seconds = raw === null ? DEFAULT_SECONDS : Number(raw);
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_SECONDS) {
        plainError(res, 400, `seconds must be a whole number from 1 to ${MAX_SECONDS}`);
        return;
      }
      if (profiling) {
        plainError(res, 409, 'a CPU profile is already being taken');
        return;
      }
      profiling = true;
      const session = new Session();
      session.connect();
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        profiling = false;
        session.disconnect();
      };
      // A client that goes away ends the profile early; nothing is sent then.
      res.on('close', () => {
        if (!res.writableEnded) finish();
      });
      post(session, 'Profiler.enable')
        .then(() => post(session, 'Profiler.start'))
        .then(
          () =>
            new Promise<void>((resolve) => {
              timer = setTimeout(resolve, seconds * 1000);
            }),
        )
        .then(() => post<{ profile: unknown }>(session, 'Profiler.stop'))
        .then(
          ({ profile }) => {
            if (done) return; // the client left
            const body = JSON.stringify(profile);
            finish();
            res.writeHead(200, {
              'Content-Type': 'application/json',
              'Content-Disposition': 'attachment; filename="gyre.cpuprofile"',
              'Content-Length': Buffer.byteLength(body),
            });
            res.end(body);
          },
          (err: unknown) => {
            if (done) return;
            finish();
            if (!res.headersSent) plainError(res, 500, `profile failed: ${String(err)}`);
          },
        );
    }),
  );

  out.set(
    'heap',
    getOnly((_req, res) => {
      const session = new Session();
      session.connect();
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Disposition': 'attachment; filename="gyre.heapsnapshot"',
      });
      // V8 hands the snapshot over in chunks while it walks the heap; each goes out as it comes.
      session.on('HeapProfiler.addHeapSnapshotChunk', (m) => {
        res.write(m.params.chunk);
      });
      post(session, 'HeapProfiler.takeHeapSnapshot', { reportProgress: false }).then(
        () => {
          session.disconnect();
          res.end();
        },
        () => {
          session.disconnect();
          res.destroy();
        },
      );
    }),
  );
  return out;
}
