import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router, RouterOptions } from '../http/router.js';
import type { PrometheusMetrics } from './prometheus.js';

/** The `prometheus.handler_prefix` endpoint: the registry in Prometheus text format. */
export function metricsHandler(m: PrometheusMetrics): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    req.resume();
    m.metrics().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': m.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      },
      (err: unknown) => {
        const body = `error gathering metrics: ${String(err)}\n`;
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(body);
      },
    );
  };
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * The `path` label of a request: the route it matched (a known endpoint or API method path), or
 * `other`, so that made-up URLs cannot grow the number of series.
 */
export function routeLabel(o: RouterOptions, path: string): string {
  if (o.api?.route(path) !== undefined) return path;
  if (
    path === o.websocket?.path ||
    path === o.healthPath ||
    path === o.initPath ||
    o.endpoints?.has(path) === true ||
    o.upgrades?.has(path) === true
  ) {
    return path;
  }
  return 'other';
}

/**
 * `prometheus.instrument_http_handlers`: counts finished HTTP requests of a listener in
 * `centrifugo_node_incoming_http_requests_total{path,method,status}` (counted when the response
 * closes, so long-lived streams count when they end). WebSocket upgrades are not counted.
 */
export function instrumentRouter(router: Router, routes: RouterOptions, m: PrometheusMetrics): Router {
  return {
    onRequest(req, res) {
      res.once('close', () =>
        m.httpRequest(routeLabel(routes, pathOf(req.url)), req.method ?? '', res.statusCode),
      );
      router.onRequest(req, res);
    },
    onUpgrade: (req, socket, head) => router.onUpgrade(req, socket, head),
    onH2Connect: (req, res) => router.onH2Connect(req, res),
  };
}
