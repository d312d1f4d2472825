import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectionMeta } from '../../core/transport.js';

/** Decides whether a request's `Origin` is allowed (built by the server from `client.allowed_origins`). */
export type OriginCheck = (req: { headers: IncomingHttpHeaders }) => boolean;

/** A Node `http` request handler as the router calls it. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Headers that keep proxies and browsers from caching or buffering a long-lived stream. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Cache-Control': 'private, no-cache, no-store, must-revalidate, max-age=0',
  Pragma: 'no-cache',
  Expire: '0',
  'X-Accel-Buffering': 'no',
});

/** Sets the stream headers (plus `Connection: keep-alive` on HTTP/1.x) on a response. */
export function setStreamHeaders(req: IncomingMessage, res: ServerResponse): void {
  for (const [k, v] of Object.entries(STREAM_HEADERS)) res.setHeader(k, v);
  if (req.httpVersionMajor === 1) res.setHeader('Connection', 'keep-alive');
}

/** What the transports read of a request: an HTTP/1.1 `IncomingMessage` or HTTP/2's. */
export interface RequestFacts {
  url?: string | undefined;
  headers: IncomingHttpHeaders;
  socket: { remoteAddress?: string | undefined };
}

/** The request's headers as core wants them: names lower-cased, no HTTP/2 pseudo-headers, one string each. */
function copyHeaders(from: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    // HTTP/2 pseudo-headers (`:method`, `:path`, ...) are not headers of the request.
    if (v === undefined || k.startsWith(':')) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return headers;
}

/**
 * A connection's {@link ConnectionMeta}, read from its request on demand: most connections never
 * look at their headers (only `user_id_http_header` and proxies that forward headers do), so the
 * copy is made the first time `headers` is read, and the remote address (a `getpeername` call) the
 * first time `remoteAddress` is read, while the connection is open. Assigning `headers` (the server
 * trims them once a client is connected) lets go of the request.
 */
class RequestMeta implements ConnectionMeta {
  declare url?: string;
  #req: RequestFacts | undefined;
  #headers: Record<string, string> | undefined;
  readonly #socket: RequestFacts['socket'];
  #remoteAddress: string | undefined;
  #remoteRead = false;

  constructor(req: RequestFacts) {
    this.#req = req;
    this.#socket = req.socket;
    if (req.url !== undefined) this.url = req.url;
  }

  get headers(): Record<string, string> {
    if (this.#headers === undefined) {
      this.#headers = this.#req === undefined ? {} : copyHeaders(this.#req.headers);
      this.#req = undefined;
    }
    return this.#headers;
  }

  set headers(value: Record<string, string>) {
    this.#headers = value;
    this.#req = undefined;
  }

  get remoteAddress(): string | undefined {
    if (!this.#remoteRead) {
      this.#remoteRead = true;
      this.#remoteAddress = this.#socket.remoteAddress;
    }
    return this.#remoteAddress;
  }

  set remoteAddress(value: string | undefined) {
    this.#remoteRead = true;
    this.#remoteAddress = value;
  }
}

/** Facts about the request for core's connecting handler: headers, remote address, URL (read on demand). */
export function connectionMeta(req: RequestFacts): ConnectionMeta {
  return new RequestMeta(req);
}

/** Query parameters of the request URL. */
export function queryOf(req: { url?: string | undefined }): URLSearchParams {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/**
 * Applies the origin check and, for an allowed cross-origin request, the CORS response headers.
 * Returns false after answering 403 when the origin is not allowed.
 */
export function checkOriginAndCors(req: IncomingMessage, res: ServerResponse, check: OriginCheck): boolean {
  if (!check(req)) {
    res
      .writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' })
      .end('request Origin is not authorized');
    return false;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== '') {
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
    const reqHeaders = req.headers['access-control-request-headers'];
    if (reqHeaders !== undefined && reqHeaders !== '' && reqHeaders !== 'null') {
      res.setHeader('Access-Control-Allow-Headers', reqHeaders);
    }
  }
  return true;
}

/** Answers a CORS preflight for an endpoint accepting `methods`. */
export function answerPreflight(res: ServerResponse, methods: string): void {
  res.setHeader('Access-Control-Allow-Methods', methods);
  res.setHeader('Access-Control-Max-Age', '300');
  res.writeHead(200).end();
}

/** Answers with a status code and an optional plain-text body. */
export function answer(res: ServerResponse, status: number, body = ''): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  if (body === '') res.writeHead(status).end();
  else res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}

/** Outcome of reading a request body under a size limit. */
export type BodyResult = { ok: true; body: Buffer } | { ok: false; status: 400 | 413 };

/**
 * Reads the whole request body, refusing more than `limit` bytes (0 = no limit) with 413. A declared
 * `Content-Length` over the limit is refused before reading. A body aborted midway gives 400.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  return new Promise((resolve) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (limit > 0 && Number.isFinite(declared) && declared > limit) {
      req.resume();
      resolve({ ok: false, status: 413 });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyResult): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (limit > 0 && size > limit) {
        chunks.length = 0;
        // Keep draining so the 413 can still be delivered on this connection.
        req.resume();
        finish({ ok: false, status: 413 });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish({ ok: true, body: Buffer.concat(chunks, size) }));
    req.once('error', () => finish({ ok: false, status: 400 }));
    req.once('aborted', () => finish({ ok: false, status: 400 }));
  });
}
