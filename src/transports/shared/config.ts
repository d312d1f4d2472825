import type { TlsSettings } from '../../util/pem.js';

/**
 * The part of the server configuration the streaming transports read, as a structural type so
 * transports stay below the server layer (`server/config`'s `Config` satisfies it). Durations are
 * milliseconds.
 */
export interface TransportConfig {
  client: {
    ping_interval: number;
    pong_timeout: number;
    queue_max_size: number;
    connect_code_to_unidirectional_disconnect: {
      enabled: boolean;
      transforms: { code: number; to: { code: number; reason: string } }[];
    };
  };
  http_stream: StreamSection;
  sse: StreamSection;
  emulation: { handler_prefix: string; max_request_body_size: number };
  uni_sse: UniHttpSection;
  uni_http_stream: UniHttpSection;
  uni_grpc: {
    enabled: boolean;
    address: string;
    port: number;
    max_receive_message_size: number;
    tls: TlsSettings;
  };
  uni_websocket: {
    enabled: boolean;
    handler_prefix: string;
    compression: boolean;
    compression_min_size: number;
    compression_level: number;
    message_size_limit: number;
    decompressed_message_size_limit: number;
    disable_closing_handshake: boolean;
    disable_disconnect_push: boolean;
    join_push_messages: boolean;
  };
}

interface StreamSection {
  enabled: boolean;
  handler_prefix: string;
  max_request_body_size: number;
}

interface UniHttpSection extends StreamSection {
  connect_code_to_http_response: {
    enabled: boolean;
    transforms: { code: number; to: { status_code: number; body: string } }[];
  };
}
