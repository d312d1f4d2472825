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
import { serveUniStream } from '../shared/serve.js';
import { decodeUniConnect, uniConnectConfig } from '../shared/uni.js';

/**
 * `/connection/uni_sse` (`uni_sse.handler_prefix`): unidirectional Server-Sent Events (§13). The
 * JSON ConnectRequest comes in the `cf_connect` query parameter of a GET (missing ⇒ empty request)
 * or as a POST body (over `uni_sse.max_request_body_size` ⇒ 413); undecodable ⇒ 400. The stream
 * starts with `\r\n`, then one `data: <push>` event per push. A connect error is a disconnect push,
 * or the HTTP answer configured in `uni_sse.connect_code_to_http_response`.
 */
export function createUniSseHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): HttpHandler {
  const limit = config.uni_sse.max_request_body_size;
  const maxBuffered = config.client.queue_max_size;
  const cfg = uniConnectConfig(config, 'uni_sse');
  const start = (
    req: Parameters<HttpHandler>[0],
    res: Parameters<HttpHandler>[1],
    data: Uint8Array,
  ): void => {
    const request = decodeUniConnect(node, data, logger, 'uni_sse');
    if (request === undefined) {
      answer(res, 400);
      return;
    }
    serveUniStream(
      node,
      req,
      res,
      {
        name: 'uni_sse',
        maxBuffered,
        frame: sseEvents,
        headers: { 'Content-Type': 'text/event-stream; charset=utf-8' },
        preamble: '\r\n',
      },
      request,
      cfg,
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
      start(req, res, Buffer.from(queryOf(req).get('cf_connect') ?? ''));
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
