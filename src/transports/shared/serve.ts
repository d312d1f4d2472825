import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { ConnectRequest } from '../../protocol/types.js';
import {
  connectErrors,
  httpResponseFor,
  uniDisconnectFor,
  type HttpResponseTransforms,
  type UniDisconnectTransforms,
} from './connect-errors.js';
import { connectionMeta } from './http.js';
import {
  ResponseTransport,
  type FirstWriteResult,
  type ResponseTransportOptions,
} from './response-transport.js';

/**
 * Serves a bidirectional emulation stream (HTTP-streaming, SSE): the 200 headers go out at once,
 * then `connectFrame` (the already validated connect command) is handed to a new core client.
 * Later commands of the session arrive through `/emulation`.
 */
export function serveEmulationStream(
  node: Node,
  req: IncomingMessage,
  res: ServerResponse,
  options: Omit<ResponseTransportOptions, 'unidirectional' | 'emulation' | 'firstWrite'>,
  connectFrame: Uint8Array,
  logger: Logger,
): void {
  const transport = new ResponseTransport(req, res, { ...options, unidirectional: false, emulation: true });
  const client = node.handleTransport(transport, connectionMeta(req));
  res.once('close', () => client.handleClose());
  transport.start();
  logger.debug({ transport: options.name, client: client.id }, 'emulation stream opened');
  client.handleData(connectFrame);
}

/** Config a unidirectional HTTP transport needs for connect errors. */
export interface UniConnectConfig {
  /** `client.connect_code_to_unidirectional_disconnect`. */
  disconnects: UniDisconnectTransforms;
  /** `<transport>.connect_code_to_http_response`. */
  httpResponses: HttpResponseTransforms;
}

/**
 * Serves a unidirectional HTTP stream (uni SSE, uni HTTP-streaming): connects a core client with
 * the bare ConnectRequest. Headers wait for the connect outcome so that a connect error can be
 * answered with a configured HTTP status instead (`connect_code_to_http_response`).
 */
export function serveUniStream(
  node: Node,
  req: IncomingMessage,
  res: ServerResponse,
  options: Omit<ResponseTransportOptions, 'unidirectional' | 'emulation' | 'firstWrite' | 'protocol'>,
  connectRequest: ConnectRequest,
  cfg: UniConnectConfig,
  logger: Logger,
): void {
  const remap = cfg.disconnects.enabled || cfg.httpResponses.enabled;
  let clientId = '';
  const firstWrite = (messages: readonly Uint8Array[]): FirstWriteResult => {
    const code = remap ? connectErrors.code(clientId) : 0;
    if (code === 0) return messages;
    const http = httpResponseFor(code, cfg.httpResponses);
    if (http !== undefined) return http;
    if (!cfg.disconnects.enabled) return messages;
    return [node.codecFor('json').encodePush({ disconnect: uniDisconnectFor(code, cfg.disconnects) })];
  };
  const transport = new ResponseTransport(req, res, {
    ...options,
    protocol: 'json',
    unidirectional: true,
    emulation: false,
    firstWrite,
  });
  const client = node.handleTransport(transport, connectionMeta(req));
  clientId = client.id;
  if (remap) {
    connectErrors.ensureTap(node);
    connectErrors.watch(clientId);
  }
  res.once('close', () => {
    if (remap) connectErrors.unwatch(clientId);
    client.handleClose();
  });
  logger.debug({ transport: options.name, client: client.id }, 'unidirectional stream opened');
  void client.connectUnidirectional(connectRequest);
}
