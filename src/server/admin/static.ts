/**
 * Static file serving for the admin UI: the embedded UI (read into memory once at start) and a
 * custom UI build directory (`admin.web_path`, read from disk per request).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentTypeOf } from '../../util/content-type.js';
import { plainError } from '../api/http.js';

/**
 * The embedded UI's directory: `web/admin` at the package root, which is three levels above this
 * module in the sources (`src/server/admin`, run through tsx) and four in the build
 * (`dist/src/server/admin`). `package.json` "files" ships it with the package.
 */
export function embeddedUiDir(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../../..', '../../../..']) {
    const dir = resolve(here, up, 'web', 'admin');
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/** What a request under the UI mount asks for, relative to the UI root. */
type UiPath = { ok: true; rel: string } | { ok: false; status: 400 };

/** Decodes the part of `path` after the mount into a relative file path; refuses `..` segments. */
export function uiPath(subPath: string): UiPath {
  let decoded: string;
  try {
    decoded = decodeURIComponent(subPath);
  } catch {
    return { ok: false, status: 400 };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400 };
  const segments = decoded.split('/');
  if (segments.some((s) => s === '..')) return { ok: false, status: 400 };
  return { ok: true, rel: segments.filter((s) => s !== '' && s !== '.').join('/') };
}

function methodAllowed(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { Allow: 'GET, HEAD' }).end();
  req.resume();
  return false;
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Headers sent with every embedded UI file: no framing, no sniffing, only same-origin resources. */
const EMBEDDED_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'Cache-Control': 'no-cache',
};

/** The embedded UI: every file of a directory held in memory, served with ETags. */
export class EmbeddedFiles {
  private readonly assets = new Map<string, Asset>();

  constructor(dir: string | undefined) {
    if (dir !== undefined) this.load(dir, dir);
  }

  /** Files given by relative path (`index.html`, `app.js`, ...) rather than read from a directory. */
  static of(files: ReadonlyMap<string, Buffer>): EmbeddedFiles {
    const e = new EmbeddedFiles(undefined);
    for (const [rel, body] of files) e.add(rel, body);
    return e;
  }

  private add(rel: string, body: Buffer): void {
    const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
    this.assets.set(rel, { body, type: contentTypeOf(rel), etag });
  }

  /** Number of files held. */
  get size(): number {
    return this.assets.size;
  }

  private load(root: string, dir: string): void {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) this.load(root, p);
      else if (e.isFile()) this.add(relative(root, p).split(sep).join('/'), readFileSync(p));
    }
  }

  /** Serves `subPath` (the request path after the mount's `/`). */
  serve(req: IncomingMessage, res: ServerResponse, subPath: string): void {
    if (!methodAllowed(req, res)) return;
    const p = uiPath(subPath);
    if (!p.ok) {
      plainError(res, 400, 'invalid URL path');
      req.resume();
      return;
    }
    const rel = p.rel === '' || subPath.endsWith('/') ? join(p.rel, 'index.html') : p.rel;
    const asset = this.assets.get(rel.split(sep).join('/'));
    if (asset === undefined) {
      plainError(res, 404, '404 page not found');
      req.resume();
      return;
    }
    const headers = { ...EMBEDDED_HEADERS, ETag: asset.etag };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      req.resume();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    req.resume();
  }
}

/**
 * Serves a directory from disk (`admin.web_path`): `index.html` for directory requests, a redirect
 * adding the trailing slash to a directory path, 404 for anything missing, never a path outside the
 * directory.
 */
export class DirectoryFiles {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** True when the directory exists (checked at start to log a clear warning). */
  exists(): boolean {
    try {
      return statSync(this.root).isDirectory();
    } catch {
      return false;
    }
  }

  serve(req: IncomingMessage, res: ServerResponse, subPath: string, fullPath: string): void {
    if (!methodAllowed(req, res)) return;
    req.resume();
    const p = uiPath(subPath);
    if (!p.ok) {
      plainError(res, 400, 'invalid URL path');
      return;
    }
    const file = resolve(this.root, p.rel);
    if (file !== this.root && !file.startsWith(this.root + sep)) {
      plainError(res, 400, 'invalid URL path');
      return;
    }
    void this.send(req, res, file, subPath === '' || subPath.endsWith('/'), fullPath);
  }

  private async send(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    slash: boolean,
    fullPath: string,
  ): Promise<void> {
    try {
      let target = file;
      let st = await stat(target);
      if (st.isDirectory()) {
        if (!slash) {
          const q = req.url?.indexOf('?') ?? -1;
          const query = q === -1 ? '' : (req.url as string).slice(q);
          res.writeHead(301, { Location: `${fullPath}/${query}` }).end();
          return;
        }
        target = join(file, 'index.html');
        st = await stat(target);
      }
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
      res.writeHead(200, {
        'Content-Type': contentTypeOf(target),
        'Content-Length': st.size,
        'Last-Modified': st.mtime.toUTCString(),
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const stream = createReadStream(target);
      stream.once('error', () => res.destroy());
      stream.pipe(res);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') plainError(res, 404, '404 page not found');
      else plainError(res, 500, 'Internal Server Error');
    }
  }
}
