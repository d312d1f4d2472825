import type { Logger } from '../core/logger.js';
import type { Node } from '../core/node.js';
import { createEmulationHandler } from '../transports/emulation/index.js';
import { createHttpStreamHandler } from '../transports/http-stream/index.js';
import { createSseHandler } from '../transports/sse/index.js';
import { createUniHttpStreamHandler } from '../transports/uni-http-stream/index.js';
import { createUniSseHandler } from '../transports/uni-sse/index.js';
import type { OriginCheck } from '../transports/shared/http.js';
import { createUniWebSocketHandler } from '../transports/uni-websocket/index.js';
import type { Config } from './config/index.js';
import { handlerPath, type RouterOptions } from './http/router.js';

/** What `mountStreamingTransports` started and must stop at shutdown. */
export interface MountedTransports {
  close(): void;
}

/**
 * Adds the endpoints of the enabled HTTP-streaming, SSE, emulation and unidirectional transports
 * to the external router. The connection limit and rate apply to each of them as to WebSocket.
 */
export function mountStreamingTransports(
  node: Node,
  config: Config,
  logger: Logger,
  checkOriginHeader: (origin: string | undefined) => boolean,
  routes: RouterOptions,
  canAccept: () => boolean,
): MountedTransports {
  const checkOrigin: OriginCheck = (req) => checkOriginHeader(req.headers.origin);
  const endpoints = (routes.endpoints ??= new Map());
  const upgrades = (routes.upgrades ??= new Map());
  routes.canAccept = canAccept;
  const limited =
    (h: ReturnType<typeof createSseHandler>): ReturnType<typeof createSseHandler> =>
    (req, res) => {
      if (req.method !== 'OPTIONS' && !canAccept()) {
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('Service Unavailable\n');
        req.resume();
        return;
      }
      h(req, res);
    };
  if (config.http_stream.enabled) {
    endpoints.set(
      handlerPath(config.http_stream.handler_prefix),
      limited(createHttpStreamHandler(node, config, logger, checkOrigin)),
    );
  }
  if (config.sse.enabled) {
    endpoints.set(
      handlerPath(config.sse.handler_prefix),
      limited(createSseHandler(node, config, logger, checkOrigin)),
    );
  }
  if (config.http_stream.enabled || config.sse.enabled) {
    endpoints.set(
      handlerPath(config.emulation.handler_prefix),
      createEmulationHandler(node, config, logger, checkOrigin),
    );
  }
  if (config.uni_sse.enabled) {
    endpoints.set(
      handlerPath(config.uni_sse.handler_prefix),
      limited(createUniSseHandler(node, config, logger, checkOrigin)),
    );
  }
  if (config.uni_http_stream.enabled) {
    endpoints.set(
      handlerPath(config.uni_http_stream.handler_prefix),
      limited(createUniHttpStreamHandler(node, config, logger, checkOrigin)),
    );
  }
  const uniWs = config.uni_websocket.enabled
    ? createUniWebSocketHandler(node, config, logger, checkOrigin)
    : undefined;
  if (uniWs !== undefined) upgrades.set(handlerPath(config.uni_websocket.handler_prefix), uniWs);
  return {
    close: () => uniWs?.close(),
  };
}
