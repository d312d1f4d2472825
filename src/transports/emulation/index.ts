import type { Client } from '../../core/client.js';
import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import { decodeJsonEmulationRequest } from '../../protocol/json-decode.js';
import { decodeEmulationRequest } from '../../protocol/protobuf-codec.js';
import type { EmulationRequest } from '../../protocol/types.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { ResponseTransport } from '../shared/response-transport.js';
import { isProtobufContentType } from '../shared/frame.js';
import {
  answer,
  answerPreflight,
  checkOriginAndCors,
  readBody,
  type HttpHandler,
  type OriginCheck,
} from '../shared/http.js';

/** Transport names whose sessions accept commands through `/emulation`. */
const EMULATION_TRANSPORTS = new Set(['http_stream', 'sse']);

/**
 * Finds the emulation session a `/emulation` request addresses: the node's session registry
 * (`Node.sessions`, keyed by the `session` core puts into the connect result), restricted to
 * connections made over an emulation transport.
 */
export function findEmulationSession(node: Node, session: string): Client | undefined {
  const client = node.sessions.get(session);
  return client !== undefined && EMULATION_TRANSPORTS.has(client.transportName) ? client : undefined;
}

/**
 * Resolves once the local emulation session `session` reads commands again: at once unless core
 * paused it (too many of its commands waiting, see `Client`) or when it is not on this node (the
 * node that has it does not hold requests back).
 */
function sessionReading(node: Node, session: string): Promise<void> {
  const t = findEmulationSession(node, session)?.transport;
  return t instanceof ResponseTransport ? t.readingResumed() : Promise.resolve();
}

/**
 * `POST /emulation` (`emulation.handler_prefix`): client→server commands of an HTTP-streaming or
 * SSE session (§10.3). JSON body `{"session","node","data"}` (`data` a string of `\n`-joined
 * commands), or a Protobuf `EmulationRequest` when `Content-Type` is `application/octet-stream`.
 * Replies go out on the session's stream, never in this response.
 *
 * Backpressure: while a local session has too many commands waiting, a request neither hands its
 * commands over nor is answered until the session reads again, so a client that sends faster than
 * its commands complete waits on its own requests, as it would on a paused WebSocket.
 *
 * Answers: 204 accepted (also when the session is gone: its stream has ended); 400 undecodable;
 * 404 when `node` is not this node (no other node is reachable from here); 413 over
 * `emulation.max_request_body_size`; 403 disallowed Origin; OPTIONS ⇒ CORS preflight; other
 * methods ⇒ 405.
 */
export function createEmulationHandler(
  node: Node,
  config: Config,
  logger: Logger,
  checkOrigin: OriginCheck,
): HttpHandler {
  const limit = config.emulation.max_request_body_size;
  // Session data routed here from other nodes reaches only emulation sessions.
  node.onSessionData = (s, d) => findEmulationSession(node, s)?.handleData(d);
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
    const protobuf = isProtobufContentType(req.headers['content-type']);
    void readBody(req, limit).then((r) => {
      if (!r.ok) {
        answer(res, r.status);
        return;
      }
      let er: EmulationRequest;
      try {
        er = protobuf ? decodeEmulationRequest(r.body) : decodeJsonEmulationRequest(r.body);
      } catch (err) {
        logger.info({ err }, 'bad emulation request');
        answer(res, 400);
        return;
      }
      // The node that owns the session gets the commands (this one, or another through the controller).
      sessionReading(node, er.session)
        .then(() => node.routeSessionData(er.node, er.session, er.data))
        .then(async (known) => {
          await sessionReading(node, er.session);
          answer(res, known ? 204 : 404);
        })
        .catch((err: unknown) => {
          logger.warn({ err }, 'emulation routing failed');
          answer(res, 503);
        });
    });
  };
}
