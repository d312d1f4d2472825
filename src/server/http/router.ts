import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { HttpApi } from '../api/http.js';
import { plainError } from '../api/http.js';
import type { WebSocketAcceptor } from '../../transports/websocket/index.js';
import { rejectUpgrade } from '../../transports/websocket/server-socket.js';

/** A WebSocket endpoint beside the main one (see `RouterOptions.upgrades`). */
export interface UpgradeEndpoint {
  (req: IncomingMessage, socket: Duplex, head: Buffer): void;
  h2Connect?(req: Http2ServerRequest, stream: Http2ServerRequest['stream']): void;
}

/** The bidirectional WebSocket endpoint of a listener. */
export interface WebSocketRoute {
  /** Exact path, e.g. `/connection/websocket`. */
  path: string;
  acceptor: WebSocketAcceptor;
  checkOrigin(origin: string | undefined): boolean;
  /** False when the node's connection limit is reached (503). */
  canAccept?(): boolean;
}

/** An HTTP endpoint served at an exact path. */
export type HttpEndpoint = (req: IncomingMessage, res: ServerResponse) => void;

/** What one listener serves. Absent parts answer 404. */
export interface RouterOptions {
  api?: HttpApi;
  websocket?: WebSocketRoute;
  /** Exact path of the health check (`{}` 200). */
  healthPath?: string;
  /** Exact path of `/connection/init` (`{}` 200). */
  initPath?: string;
  /** Extra HTTP endpoints by exact path (emulation and unidirectional transports). */
  endpoints?: Map<string, HttpEndpoint>;
  /**
   * Extra WebSocket endpoints by exact path (unidirectional WebSocket): HTTP/1.1 upgrades, and
   * HTTP/2 extended CONNECT streams when the endpoint has `h2Connect`.
   */
  upgrades?: Map<string, UpgradeEndpoint>;
  /** False when the node's connection limit is reached (503 for new connections). */
  canAccept?(): boolean;
  /** The admin UI and `/admin/*` endpoints: every path `match` accepts that nothing above took. */
  admin?: {
    match(path: string): boolean;
    handle(req: IncomingMessage, res: ServerResponse, path: string): void;
  };
  /** Answer 503 to every request while false (node not running yet). */
  ready(): boolean;
}

/** Handlers for one listener: `request` and `upgrade` events, and HTTP/2 CONNECT streams. */
export interface Router {
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * An HTTP/2 CONNECT (h2c listener): `:protocol` websocket to the WebSocket endpoint is WebSocket
   * over the stream (RFC 8441), with the same checks as an upgrade; anything else is refused.
   */
  onH2Connect(req: Http2ServerRequest, res: Http2ServerResponse): void;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function trimPrefix(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t === '' ? '/' : t;
}

/** Normalises a configured handler prefix into the exact path it serves. */
export function handlerPath(prefix: string): string {
  return trimPrefix(prefix);
}

/**
 * Exact-path endpoints of a handler mounted at `prefix` (normalised by `handlerPath`): each entry
 * of `under` at `<prefix>/<sub path>` (`''` is `<prefix>/` itself), and the bare prefix answering
 * 301 to `<prefix>/`.
 */
export function endpointsUnder(
  prefix: string,
  under: Iterable<[string, HttpEndpoint]>,
): Map<string, HttpEndpoint> {
  const base = prefix === '/' ? '' : prefix;
  const out = new Map<string, HttpEndpoint>();
  for (const [sub, handle] of under) out.set(`${base}/${sub}`, handle);
  if (base !== '') {
    out.set(base, (req, res) => {
      req.resume();
      res.writeHead(301, { Location: `${base}/` }).end();
    });
  }
  return out;
}

const EMPTY_JSON = '{}';

/**
 * Builds the request router of one listener: WebSocket upgrades (with the Origin check ⇒ 403
 * before upgrading), the server API, health and connection-init probes, the admin UI; anything
 * else 404.
 */
export function createRouter(o: RouterOptions): Router {
  /**
   * Where a WebSocket handshake to `path` goes, with the checks an HTTP/1.1 upgrade and an HTTP/2
   * CONNECT stream both get; a number is the status that refuses it. An extra endpoint answers 503
   * while the node is not ready or at its connection limit (over HTTP/2, 404 first if it has no
   * `h2Connect`); the main endpoint 404 on any other path, then 503 not ready, 403 for a refused
   * Origin, 503 at the connection limit.
   */
  const admitWebSocket = (
    path: string,
    origin: string | undefined,
    overH2: boolean,
  ): number | { extra: UpgradeEndpoint } | { main: WebSocketRoute } => {
    const extra = o.upgrades?.get(path);
    if (extra !== undefined) {
      if (overH2 && extra.h2Connect === undefined) return 404;
      if (!o.ready() || (o.canAccept !== undefined && !o.canAccept())) return 503;
      return { extra };
    }
    const ws = o.websocket;
    if (ws === undefined || path !== ws.path) return 404;
    if (!o.ready()) return 503;
    if (!ws.checkOrigin(origin)) return 403;
    if (ws.canAccept !== undefined && !ws.canAccept()) return 503;
    return { main: ws };
  };

  return {
    onRequest(req, res) {
      const path = pathOf(req.url);
      if (!o.ready()) {
        plainError(res, 503, 'Service Unavailable');
        req.resume();
        return;
      }
      if (o.api !== undefined) {
        const route = o.api.route(path);
        if (route !== undefined) {
          o.api.handle(req, res, route);
          return;
        }
      }
      if (
        (o.healthPath !== undefined && path === o.healthPath) ||
        (o.initPath !== undefined && path === o.initPath)
      ) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': EMPTY_JSON.length });
        res.end(EMPTY_JSON);
        req.resume();
        return;
      }
      const endpoint = o.endpoints?.get(path);
      if (endpoint !== undefined) {
        endpoint(req, res);
        return;
      }
      if (o.websocket !== undefined && path === o.websocket.path) {
        // A plain HTTP request to the WebSocket endpoint (no Upgrade header).
        plainError(res, 400, 'Bad Request');
        req.resume();
        return;
      }
      if (o.admin !== undefined && o.admin.match(path)) {
        o.admin.handle(req, res, path);
        return;
      }
      plainError(res, 404, '404 page not found');
      req.resume();
    },

    onUpgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const to = admitWebSocket(pathOf(req.url), req.headers.origin, false);
      if (typeof to === 'number') rejectUpgrade(socket, to, STATUS_CODES[to] ?? '');
      else if ('extra' in to) to.extra(req, socket, head);
      else to.main.acceptor.handleUpgrade(req, socket, head);
    },

    onH2Connect(req, res) {
      const to =
        req.headers[':protocol'] === 'websocket'
          ? admitWebSocket(pathOf(req.url), req.headers.origin, true)
          : 405;
      if (typeof to === 'number') {
        res.writeHead(to);
        res.end();
      } else if ('extra' in to) to.extra.h2Connect?.(req, req.stream);
      else to.main.acceptor.handleH2Connect(req, req.stream);
    },
  };
}
