import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { sseEvents } from '../shared/frame.js';
import {
  answer,
  answerPreflight,
  checkOriginAndCors,
  queryOf,
  readBody,
  type HttpHandler,
  type OriginCheck,
} from '../shared/http.js';
import { serveEmulationStream } from '../shared/serve.js';

/** Response headers of an SSE stream besides the no-cache ones. */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
});

/**
 * `/connection/sse` (`sse.handler_prefix`): bidirectional emulation over Server-Sent Events
 * (§10.2), JSON only. The connect command comes in the `cf_connect` query parameter of a GET
 * (missing ⇒ 400) or as the body of a POST (over `sse.max_request_body_size` ⇒ 413). The stream
 * starts with `\r\n`, then one `data: <reply>` event per reply; later commands arrive through
 * `/emulation`.
 */
export function createSseHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): HttpHandler {
  const limit = config.sse.max_request_body_size;
  const maxBuffered = config.client.queue_max_size;
  const start = (
    req: Parameters<HttpHandler>[0],
    res: Parameters<HttpHandler>[1],
    frame: Uint8Array,
  ): void => {
    try {
      if (node.codecFor('json').decodeCommands(frame).length === 0) throw new Error('no command');
    } catch (err) {
      logger.info({ err, transport: 'sse' }, 'bad connect command');
      answer(res, 400);
      return;
    }
    serveEmulationStream(
      node,
      req,
      res,
      {
        name: 'sse',
        protocol: 'json',
        frame: sseEvents,
        headers: { ...SSE_HEADERS },
        preamble: '\r\n',
        maxBuffered,
      },
      frame,
      logger,
    );
  };
  return (req, res) => {
    if (!checkOriginAndCors(req, res, checkOrigin)) return;
    if (req.method === 'OPTIONS') {
      answerPreflight(res, 'GET, POST, OPTIONS');
      return;
    }
    if (req.method === 'GET') {
      const connect = queryOf(req).get('cf_connect');
      if (connect === null || connect === '') {
        answer(res, 400);
        return;
      }
      start(req, res, Buffer.from(connect));
      return;
    }
    if (req.method !== 'POST') {
      answer(res, 405);
      return;
    }
    void readBody(req, limit).then((r) => {
      if (!r.ok) answer(res, r.status);
      else start(req, res, r.body);
    });
  };
}
