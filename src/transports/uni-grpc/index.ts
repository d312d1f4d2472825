import * as grpc from '@grpc/grpc-js';
import type { Client } from '../../core/client.js';
import type { Logger } from '../../core/logger.js';
import type { Node } from '../../core/node.js';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ConnectRequest } from '../../protocol/types.js';
import { bindGrpc, grpcCredentials, grpcServerOptions, protoPath, shutdownGrpc } from '../shared/grpc.js';
import type { TransportConfig as Config } from '../shared/config.js';
import { connectErrors, uniDisconnectFor, type UniDisconnectTransforms } from '../shared/connect-errors.js';

/** Full path of the one method of `centrifugal.centrifugo.unistream.CentrifugoUniStream`. */
export const UNI_GRPC_CONSUME_PATH = '/centrifugal.centrifugo.unistream.CentrifugoUniStream/Consume';

/** Path of `unistream.proto` (the file GRPC clients generate their stubs from). */
export function uniGrpcProtoPath(): string {
  return protoPath(import.meta.url, './unistream.proto');
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * The service with pass-through (de)serializers: the request stays raw bytes (decoded by the core's
 * protobuf codec, whose ConnectRequest has the same numbering), and each response message is a
 * Push already encoded by core, sent unchanged. No schema is loaded on the server side.
 */
const SERVICE: grpc.ServiceDefinition = {
  Consume: {
    path: UNI_GRPC_CONSUME_PATH,
    requestStream: false,
    responseStream: true,
    requestSerialize: toBuffer,
    requestDeserialize: (b: Buffer): Buffer => b,
    responseSerialize: toBuffer,
    responseDeserialize: (b: Buffer): Buffer => b,
    originalName: 'consume',
  },
};

type ConsumeCall = grpc.ServerWritableStream<Buffer, Uint8Array>;

/** A core `Transport` over one server stream: every encoded Push becomes one stream message. */
class UniGrpcTransport implements Transport {
  readonly name = 'uni_grpc';
  readonly protocol = 'protobuf' as const;
  readonly unidirectional = true;
  readonly emulation = false;
  readonly protocolPing = true;
  clientId = '';
  private pending = 0;
  private wrote = false;
  private ended = false;

  constructor(
    private readonly call: ConsumeCall,
    private readonly node: Node,
    private readonly disconnects: UniDisconnectTransforms,
    private readonly maxBuffered: number,
  ) {}

  get isEnded(): boolean {
    return this.ended || this.call.cancelled || this.call.destroyed || this.call.writableEnded;
  }

  bufferedAmount(): number {
    return this.pending;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.isEnded) return;
    if (!this.wrote) {
      this.wrote = true;
      // The first flush of a failed connect holds only the disconnect push: apply the remap.
      const code = this.disconnects.enabled ? connectErrors.code(this.clientId) : 0;
      if (code !== 0) {
        const d = uniDisconnectFor(code, this.disconnects);
        messages = [this.node.codecFor('protobuf').encodePush({ disconnect: d })];
      }
    }
    for (const m of messages) {
      this.pending += m.length;
      this.call.write(m, () => {
        this.pending -= m.length;
      });
    }
    if (this.maxBuffered > 0 && this.pending > this.maxBuffered) {
      // A reader this slow would make the buffer grow without bound: drop it (core sees a close).
      this.ended = true;
      this.call.destroy();
    }
  }

  close(_disconnect: Disconnect): void {
    if (this.isEnded) return;
    this.ended = true;
    // Core has already queued the disconnect push; ending the stream sends status OK after it.
    this.call.end();
  }
}

function connectionMetaOf(call: ConsumeCall): ConnectionMeta {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(call.metadata.getMap())) {
    headers[k.toLowerCase()] = typeof v === 'string' ? v : v.toString('base64');
  }
  const meta: ConnectionMeta = { headers };
  const peer = call.getPeer();
  if (peer !== '' && peer !== 'unknown')
    meta.remoteAddress = peer.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return meta;
}

/**
 * Starts the unidirectional GRPC transport (`uni_grpc.*`, protocol.md §13) on
 * `uni_grpc.address`:`uni_grpc.port` (port 0 = a free port): service
 * `centrifugal.centrifugo.unistream.CentrifugoUniStream`, method `Consume(ConnectRequest)`
 * streaming `Push` messages. The first push is `connect`; then publications, join/leave,
 * subscribe/unsubscribe, refresh, an empty push every `client.ping_interval`, and on disconnect a
 * `disconnect` push after which the stream ends with status OK. A request that is not a
 * ConnectRequest fails with INVALID_ARGUMENT. Connect errors become disconnects as configured in
 * `client.connect_code_to_unidirectional_disconnect`. Call metadata is the connection's headers.
 *
 * `close()` ends every open stream (cancelled if still running after 1 s) and stops the server.
 */
export async function startUniGrpc(
  node: Node,
  config: Config,
  logger: Logger,
): Promise<{ port: number; close(): Promise<void> }> {
  const c = config.uni_grpc;
  const disconnects = config.client.connect_code_to_unidirectional_disconnect;
  const maxBuffered = config.client.queue_max_size;
  const open = new Set<ConsumeCall>();
  let stopped = false;

  const consume = (call: ConsumeCall): void => {
    if (stopped) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'shutting down' });
      return;
    }
    let request: ConnectRequest;
    try {
      request = node.codecFor('protobuf').decodeConnectRequest(call.request);
    } catch (err) {
      logger.info({ err, transport: 'uni_grpc' }, 'bad connect request');
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'bad request' });
      return;
    }
    const transport = new UniGrpcTransport(call, node, disconnects, maxBuffered);
    let client: Client;
    try {
      client = node.handleTransport(transport, connectionMetaOf(call));
    } catch (err) {
      logger.error({ err }, 'error accepting uni_grpc connection');
      call.emit('error', { code: grpc.status.INTERNAL, details: 'internal server error' });
      return;
    }
    transport.clientId = client.id;
    if (disconnects.enabled) {
      connectErrors.ensureTap(node);
      connectErrors.watch(client.id);
    }
    open.add(call);
    let closed = false;
    const onGone = (): void => {
      if (closed) return;
      closed = true;
      open.delete(call);
      if (disconnects.enabled) connectErrors.unwatch(client.id);
      client.handleClose();
    };
    call.on('cancelled', onGone);
    call.on('close', onGone);
    call.on('finish', onGone);
    call.on('error', (err: Error) => {
      logger.debug({ err: err.message, client: client.id }, 'uni_grpc stream error');
      onGone();
    });
    logger.debug({ transport: 'uni_grpc', client: client.id }, 'unidirectional stream opened');
    void client.connectUnidirectional(request);
  };

  const server = new grpc.Server(grpcServerOptions(c.max_receive_message_size));
  server.addService(SERVICE, { Consume: consume });
  const port = await bindGrpc(server, c.address, c.port, grpcCredentials(c.tls, 'uni_grpc.tls'));
  logger.info({ address: c.address, port }, 'uni GRPC listening');
  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= (() => {
        stopped = true;
        for (const call of open) if (!call.writableEnded) call.end();
        return shutdownGrpc(server, 1000);
      })()),
  };
}
