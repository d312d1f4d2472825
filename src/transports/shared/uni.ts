import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { ConnectRequest } from '../../protocol/types.js';
import type { TransportConfig as Config } from './config.js';
import type { UniConnectConfig } from './serve.js';

/** Decodes a JSON ConnectRequest (literal `null` or empty ⇒ empty request); undefined when malformed. */
export function decodeUniConnect(
  node: Node,
  data: Uint8Array,
  logger: Logger,
  transport: string,
): ConnectRequest | undefined {
  if (data.length === 0) return {};
  try {
    return node.codecFor('json').decodeConnectRequest(data);
  } catch (err) {
    logger.info({ err, transport }, 'bad connect request');
    return undefined;
  }
}

/** Connect-error config of a unidirectional HTTP transport section. */
export function uniConnectConfig(config: Config, section: 'uni_sse' | 'uni_http_stream'): UniConnectConfig {
  return {
    disconnects: config.client.connect_code_to_unidirectional_disconnect,
    httpResponses: config[section].connect_code_to_http_response,
  };
}
