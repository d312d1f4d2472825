/**
 * `admin.web_proxy_address`: UI requests forwarded to a development server (for working on a UI
 * with live reload). The request path is kept and appended to the target's own path.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import { plainError } from '../api/http.js';

/** Headers that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function stripHopByHop(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) {
    // HTTP/2 pseudo-headers (`:path`, `:authority`, ...) are not headers of the proxied request.
    if (v === undefined || HOP_BY_HOP.has(k) || listed.has(k) || k.startsWith(':')) continue;
    out[k] = v;
  }
  return out;
}

/**
 * Parses the proxy target; throws with a message naming the key when it is not an http(s) URL.
 */
export function parseProxyTarget(address: string): URL {
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    throw new Error(`admin.web_proxy_address: not a valid URL: ${JSON.stringify(address)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new Error(`admin.web_proxy_address: must be an http:// or https:// URL`);
  }
  return u;
}

/** A reverse proxy to one development server. Upstream failures answer 502 and are logged. */
export class WebProxy {
  private readonly target: URL;

  constructor(
    address: string,
    private readonly logger: Logger,
  ) {
    this.target = parseProxyTarget(address);
  }

  /** The upstream URL for a request URL (path and query): the target's path joined with it. */
  upstreamUrl(requestUrl: string): URL {
    const u = new URL(this.target.href);
    const q = requestUrl.indexOf('?');
    const path = q === -1 ? requestUrl : requestUrl.slice(0, q);
    const base = u.pathname.endsWith('/') ? u.pathname.slice(0, -1) : u.pathname;
    u.pathname = base + (path.startsWith('/') ? path : `/${path}`);
    u.search = q === -1 ? u.search : requestUrl.slice(q);
    return u;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const upstream = this.upstreamUrl(req.url ?? '/');
    const headers = stripHopByHop(req.headers);
    headers.host = upstream.host;
    const remote = req.socket.remoteAddress;
    if (remote !== undefined) {
      const prior = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = prior === undefined ? remote : `${String(prior)}, ${remote}`;
    }
    const host = req.headers.host ?? req.headers[':authority'];
    if (host !== undefined) headers['x-forwarded-host'] = String(host);
    const transport = upstream.protocol === 'https:' ? https : http;
    const out = transport.request(upstream, { method: req.method ?? 'GET', headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, stripHopByHop(up.headers));
      up.pipe(res);
      up.once('error', () => res.destroy());
    });
    out.once('error', (err) => {
      this.logger.error({ err: String(err), target: this.target.href }, 'admin web proxy error');
      if (!res.headersSent) plainError(res, 502, 'Bad Gateway');
      else res.destroy();
    });
    // The browser went away before the answer was complete: stop the upstream request too.
    res.once('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  }
}
