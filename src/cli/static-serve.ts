/**
 * `gyre serve -d <dir>`: Centrifugo's tiny static file server for local development (for example to
 * serve a page that connects to Gyre). Serves the files of one directory over HTTP with content
 * types by extension, `index.html` for directories (a plain listing when there is none), 404 for
 * anything missing, and never anything outside the directory: `..` segments, encoded or not, and
 * symbolic links pointing out of it all answer 404.
 */
import { createReadStream, type Stats } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, posix, resolve, sep } from 'node:path';
import { contentTypeOf } from '../util/content-type.js';
import type { CliIO } from './io.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function plain(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(`${text}\n`);
}

/**
 * The request handler serving `root` (an absolute, symlink-free path: see {@link startStaticServer}).
 */
export function staticHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const inside = (p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

  /** The real path of `urlPath` under root, or undefined when it is missing or leads outside. */
  const locate = async (urlPath: string): Promise<{ file: string; st: Stats } | undefined> => {
    // Normalising an absolute path drops every `..` above `/`, so the join stays under root.
    const rel = posix.normalize(urlPath);
    const candidate = join(root, rel);
    if (!inside(candidate)) return undefined;
    try {
      const real = await realpath(candidate);
      if (!inside(real)) return undefined; // a symbolic link pointing out of the directory
      return { file: real, st: await stat(real) };
    } catch {
      return undefined;
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(rawPath);
    } catch {
      plain(res, 400, 'bad request');
      return;
    }
    if (!urlPath.startsWith('/') || urlPath.includes('\0')) {
      plain(res, 400, 'bad request');
      return;
    }
    const found = await locate(urlPath);
    if (found === undefined) {
      plain(res, 404, '404 page not found');
      return;
    }
    let { file, st } = found;
    if (st.isDirectory()) {
      if (!rawPath.endsWith('/')) {
        // Relative links in the page resolve against the directory.
        const query = (req.url ?? '').slice(rawPath.length);
        res.writeHead(301, { Location: `${rawPath}/${query}` });
        res.end();
        return;
      }
      const index = await locate(posix.join(urlPath, 'index.html'));
      if (index !== undefined && index.st.isFile()) {
        ({ file, st } = index);
      } else {
        await listing(req, res, file, urlPath);
        return;
      }
    }
    if (!st.isFile()) {
      plain(res, 404, '404 page not found');
      return;
    }
    const lastModified = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
    const since = req.headers['if-modified-since'];
    if (
      since !== undefined &&
      !Number.isNaN(Date.parse(since)) &&
      lastModified.getTime() <= Date.parse(since)
    ) {
      res.writeHead(304, { 'Last-Modified': lastModified.toUTCString() });
      res.end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': contentTypeOf(file),
      'Content-Length': String(st.size),
      'Last-Modified': lastModified.toUTCString(),
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  return (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) plain(res, 500, 'internal error');
      else res.destroy();
    });
  };
}

/** A plain HTML list of a directory without `index.html`. */
async function listing(
  req: IncomingMessage,
  res: ServerResponse,
  dir: string,
  urlPath: string,
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const items = entries.map((e) => {
    const name = e.isDirectory() ? `${e.name}/` : e.name;
    return `<a href="${escapeHtml(encodeURIComponent(e.name) + (e.isDirectory() ? '/' : ''))}">${escapeHtml(name)}</a>`;
  });
  const body = `<!doctype html>\n<meta charset="utf-8">\n<title>${escapeHtml(urlPath)}</title>\n<pre>\n${items.join('\n')}\n</pre>\n`;
  res.writeHead(200, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** A running static server. */
export interface StaticServer {
  server: Server;
  /** The directory served (absolute, symbolic links resolved). */
  root: string;
  address: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `dir` on `address:port` (port 0 picks a free one). Rejects when `dir` is not a directory. */
export async function startStaticServer(dir: string, port: number, address: string): Promise<StaticServer> {
  let root: string;
  try {
    root = await realpath(resolve(dir));
  } catch {
    throw new Error(`--dir: ${dir}: no such directory`);
  }
  if (!(await stat(root)).isDirectory()) throw new Error(`--dir: ${dir}: not a directory`);
  const server = createServer(staticHandler(root));
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, address === '' ? undefined : address, () => {
      server.off('error', fail);
      ok();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    root,
    address: a.address,
    port: a.port,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** Parses the `-p/--port` value of the static server (default 3000). */
export function staticPort(value: string | undefined): number {
  if (value === undefined) return 3000;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`--port: must be an integer between 0 and 65535, got "${value}"`);
  }
  return n;
}

/**
 * Runs `gyre serve -d <dir> [-p port] [-a address]` until SIGINT/SIGTERM. Prints the URL it serves
 * on; resolves with the exit code.
 */
export async function runStaticServe(
  io: CliIO,
  o: { dir: string; port?: string | undefined; address?: string | undefined },
): Promise<number> {
  let srv: StaticServer;
  try {
    srv = await startStaticServer(o.dir, staticPort(o.port), o.address ?? '');
  } catch (err) {
    io.err(`error: ${(err as Error).message}\n`);
    return 1;
  }
  const host = srv.address.includes(':') ? `[${srv.address}]` : srv.address;
  io.out(`serving ${srv.root} on http://${host}:${srv.port}/\n`);
  let onSignal: (s: NodeJS.Signals) => void = () => {};
  const signal = await new Promise<NodeJS.Signals>((ok) => {
    onSignal = ok;
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await srv.close();
  io.out(`stopped (${signal})\n`);
  return 0;
}
