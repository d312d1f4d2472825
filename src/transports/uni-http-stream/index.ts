import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { newlineTerminated } from '../shared/frame.js';
import {
  answer,
  answerPreflight,
  checkOriginAndCors,
  readBody,
  type HttpHandler,
  type OriginCheck,
} from '../shared/http.js';
import { serveUniStream } from '../shared/serve.js';
import { decodeUniConnect, uniConnectConfig } from '../shared/uni.js';

/**
 * `POST /connection/uni_http_stream` (`uni_http_stream.handler_prefix`): unidirectional
 * HTTP-streaming (§13). The body is a JSON ConnectRequest (empty or `null` ⇒ empty request;
 * undecodable ⇒ 400; over `uni_http_stream.max_request_body_size` ⇒ 413). Each push is streamed as
 * one JSON line ending in `\n`. OPTIONS ⇒ CORS preflight; other methods ⇒ 405. A connect error is
 * a disconnect push, or the HTTP answer configured in
 * `uni_http_stream.connect_code_to_http_response`.
 */
export function createUniHttpStreamHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): HttpHandler {
  const limit = config.uni_http_stream.max_request_body_size;
  const maxBuffered = config.client.queue_max_size;
  const cfg = uniConnectConfig(config, 'uni_http_stream');
  return (req, res) => {
    if (!checkOriginAndCors(req, res, checkOrigin)) return;
    if (req.method === 'OPTIONS') {
      answerPreflight(res, 'POST, OPTIONS');
      return;
    }
    if (req.method !== 'POST') {
      answer(res, 405);
      return;
    }
    void readBody(req, limit).then((r) => {
      if (!r.ok) {
        answer(res, r.status);
        return;
      }
      const request = decodeUniConnect(node, r.body, logger, 'uni_http_stream');
      if (request === undefined) {
        answer(res, 400);
        return;
      }
      serveUniStream(
        node,
        req,
        res,
        { name: 'uni_http_stream', frame: newlineTerminated, maxBuffered },
        request,
        cfg,
        logger,
      );
    });
  };
}
