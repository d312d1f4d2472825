import type { IncomingMessage, ServerResponse } from 'node:http';
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

/** What one listener serves. Absent parts answer 404. */
export interface RouterOptions {
  api?: HttpApi;
  websocket?: {
    /** Exact path, e.g. `/connection/websocket`. */
    path: string;
    acceptor: WebSocketAcceptor;
    checkOrigin(origin: string | undefined): boolean;
    /** False when the node's connection limit is reached (503). */
    canAccept?(): boolean;
  };
  /** Exact path of the health check (`{}` 200). */
  healthPath?: string;
  /** Exact path of `/connection/init` (`{}` 200). */
  initPath?: string;
  /** Extra HTTP endpoints by exact path (emulation and unidirectional transports). */
  endpoints?: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
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

const EMPTY_JSON = '{}';

/**
 * Builds the request router of one listener: WebSocket upgrades (with the Origin check ⇒ 403
 * before upgrading), the server API, health and connection-init probes, the admin UI; anything
 * else 404.
 */
export function createRouter(o: RouterOptions): Router {
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
      const path = pathOf(req.url);
      const extra = o.upgrades?.get(path);
      if (extra !== undefined) {
        if (!o.ready()) rejectUpgrade(socket, 503, 'Service Unavailable');
        else if (o.canAccept !== undefined && !o.canAccept())
          rejectUpgrade(socket, 503, 'Service Unavailable');
        else extra(req, socket, head);
        return;
      }
      const ws = o.websocket;
      if (ws === undefined || path !== ws.path) {
        rejectUpgrade(socket, 404, 'Not Found');
        return;
      }
      if (!o.ready()) {
        rejectUpgrade(socket, 503, 'Service Unavailable');
        return;
      }
      const origin = req.headers.origin;
      if (!ws.checkOrigin(origin)) {
        rejectUpgrade(socket, 403, 'Forbidden');
        return;
      }
      if (ws.canAccept !== undefined && !ws.canAccept()) {
        rejectUpgrade(socket, 503, 'Service Unavailable');
        return;
      }
      ws.acceptor.handleUpgrade(req, socket, head);
    },

    onH2Connect(req, res) {
      const refuse = (status: number): void => {
        res.writeHead(status);
        res.end();
      };
      const ws = o.websocket;
      const path = pathOf(req.url);
      const extra = o.upgrades?.get(path);
      if (req.headers[':protocol'] !== 'websocket') refuse(405);
      else if (extra !== undefined) {
        if (extra.h2Connect === undefined) refuse(404);
        else if (!o.ready() || (o.canAccept !== undefined && !o.canAccept())) refuse(503);
        else extra.h2Connect(req, req.stream);
      } else if (ws === undefined || path !== ws.path) refuse(404);
      else if (!o.ready()) refuse(503);
      else if (!ws.checkOrigin(req.headers.origin)) refuse(403);
      else if (ws.canAccept !== undefined && !ws.canAccept()) refuse(503);
      else ws.acceptor.handleH2Connect(req, req.stream);
    },
  };
}
