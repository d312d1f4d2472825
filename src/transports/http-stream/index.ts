import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import { joinDelimited } from '../../protocol/frame.js';
import type { ProtocolType } from '../../protocol/types.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { isProtobufContentType, newlineTerminated } from '../shared/frame.js';
import {
  answer,
  answerPreflight,
  checkOriginAndCors,
  readBody,
  type HttpHandler,
  type OriginCheck,
} from '../shared/http.js';
import { serveEmulationStream } from '../shared/serve.js';

/**
 * `POST /connection/http_stream` (`http_stream.handler_prefix`): bidirectional emulation over a
 * streamed response (§10.1). The body is the connect command, Protobuf when `Content-Type` is
 * `application/octet-stream`, JSON otherwise. Replies stream back as `\n`-terminated JSON lines or
 * varint-delimited Protobuf; later commands arrive through `/emulation`.
 *
 * Answers: OPTIONS ⇒ CORS preflight; other non-POST ⇒ 405; disallowed Origin ⇒ 403; body over
 * `http_stream.max_request_body_size` ⇒ 413; a body that is not a command ⇒ 400.
 */
export function createHttpStreamHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): HttpHandler {
  const limit = config.http_stream.max_request_body_size;
  const maxBuffered = config.client.queue_max_size;
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
    const protocol: ProtocolType = isProtobufContentType(req.headers['content-type']) ? 'protobuf' : 'json';
    void readBody(req, limit).then((r) => {
      if (!r.ok) {
        answer(res, r.status);
        return;
      }
      try {
        if (node.codecFor(protocol).decodeCommands(r.body).length === 0) throw new Error('no command');
      } catch (err) {
        logger.info({ err, transport: 'http_stream' }, 'bad connect command');
        answer(res, 400);
        return;
      }
      serveEmulationStream(
        node,
        req,
        res,
        {
          name: 'http_stream',
          protocol,
          frame: protocol === 'json' ? newlineTerminated : joinDelimited,
          maxBuffered,
        },
        r.body,
        logger,
      );
    });
  };
}
