import type grpc from '@grpc/grpc-js';
import type { ClientView, SubscribeOptions } from '../../core/handlers.js';
import type { Logger } from '../../core/logger.js';
import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { Push } from '../../protocol/types.js';
import type { ProxyConfig } from '../config/index.js';
import { GrpcProxyTransport, fromGrpcResponse, toGrpcRequest } from './grpc.js';
import { decodeProxyMessage, encodeProxyMessage } from './proto.js';
import type { CallContext, ProxyRequest, ProxyResponse } from './transport.js';

type Plain = Record<string, unknown>;
type StreamCall = grpc.ClientReadableStream<Plain> | grpc.ClientDuplexStream<Plain, Plain>;

/**
 * What a subscribe stream needs from the core client behind a `ClientView`: a push to this one
 * connection and whether the subscription is announced yet (its reply written). Read structurally
 * from the core `Client`; without them the stream proxy is unavailable (108).
 */
interface StreamClient extends ClientView {
  writePush(push: Push): void;
  subs: Map<string, { buffer?: unknown }>;
}

function streamClient(c: ClientView): StreamClient | undefined {
  const s = c as Partial<StreamClient>;
  return typeof s.writePush === 'function' && s.subs instanceof Map ? (c as StreamClient) : undefined;
}

interface ActiveStream {
  call: StreamCall;
  bidirectional: boolean;
  /** Set when Gyre ended the stream (unsubscribe, disconnect): no resubscribe push then. */
  cancelled: boolean;
}

/** Options of one stream subscription. */
export interface StreamSubscribeArgs {
  client: ClientView;
  channel: string;
  request: ProxyRequest;
  ctx: CallContext;
  cfg: ProxyConfig;
  transport: GrpcProxyTransport;
  bidirectional: boolean;
  /** Turns the backend's first `subscribe_response` into subscription options (throws for error/disconnect). */
  decide(resp: ProxyResponse): SubscribeOptions;
}

const activationPollMs = 5;
const activationMaxWaitMs = 10_000;

/**
 * Subscribe stream proxies (proxy.md §5.5, GRPC only): one backend stream per client
 * subscription; the first message decides the subscription within the proxy timeout, later
 * `publication`s go to that connection only. Client unsubscribe/disconnect cancels the stream; a
 * stream the backend ends or breaks unsubscribes the client with 2500 (it resubscribes).
 */
export class StreamProxies {
  private readonly streams = new Map<string, Map<string, ActiveStream>>();

  constructor(private readonly logger: Logger) {}

  /** Opens the stream and resolves with the subscription options the backend decided. */
  subscribe(a: StreamSubscribeArgs): Promise<SubscribeOptions> {
    const sc = streamClient(a.client);
    if (!sc) return Promise.reject(new ClientError(ErrorCode.notAvailable));
    const md = a.transport.metadata(a.ctx);
    const client = a.transport.client;
    const req = toGrpcRequest(a.request);
    let call: StreamCall;
    if (a.bidirectional) {
      const duplex = client.makeBidiStreamRequest(
        '/centrifugal.centrifugo.proxy.CentrifugoProxy/SubscribeBidirectional',
        (v: Plain) => encodeProxyMessage('StreamSubscribeRequest', v),
        (b: Buffer) => decodeProxyMessage('StreamSubscribeResponse', b),
        md,
      );
      duplex.write({ subscribe_request: req });
      call = duplex;
    } else {
      call = client.makeServerStreamRequest(
        '/centrifugal.centrifugo.proxy.CentrifugoProxy/SubscribeUnidirectional',
        (v: Plain) => encodeProxyMessage('SubscribeRequest', v),
        (b: Buffer) => decodeProxyMessage('StreamSubscribeResponse', b),
        req,
        md,
      );
    }
    const log = { client: sc.id, user: sc.userId, channel: a.channel };
    const stream: ActiveStream = { call, bidirectional: a.bidirectional, cancelled: false };
    const timeout = a.cfg.timeout > 0 ? a.cfg.timeout : 1000;

    return new Promise<SubscribeOptions>((resolve, reject) => {
      let decided = false;
      const queue: Plain[] = [];
      let flushing = false;
      const fail = (err: unknown): void => {
        if (decided) return;
        decided = true;
        clearTimeout(timer);
        stream.cancelled = true;
        call.cancel();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      const timer = setTimeout(() => {
        this.logger.error(log, 'subscribe stream proxy: no first message within the timeout');
        fail(new ClientError(ErrorCode.internal));
      }, timeout);

      // Publications wait until the subscribe reply is written (the subscription is announced).
      const flush = (started = Date.now()): void => {
        const sub = sc.subs.get(a.channel);
        if (sub === undefined || Date.now() - started > activationMaxWaitMs) {
          queue.length = 0;
          flushing = false;
          return;
        }
        if (sub.buffer !== undefined) {
          setTimeout(() => flush(started), activationPollMs).unref();
          return;
        }
        flushing = false;
        for (const pub of queue.splice(0)) {
          const out: Push = { channel: a.channel, pub: { data: bytesOf(pub['data']) } };
          const tags = pub['tags'];
          if (tags && typeof tags === 'object' && Object.keys(tags).length > 0) {
            out.pub!.tags = tags as Record<string, string>;
          }
          sc.writePush(out);
        }
      };

      call.on('data', (msg: Plain) => {
        if (!decided) {
          decided = true;
          clearTimeout(timer);
          let options: SubscribeOptions;
          try {
            const first = msg['subscribe_response'];
            options = a.decide(
              first && typeof first === 'object' ? fromGrpcResponse(first as Plain) : { result: {} },
            );
          } catch (err) {
            stream.cancelled = true;
            call.cancel();
            reject(err instanceof Error ? err : new Error(String(err)));
            return;
          }
          this.add(sc.id, a.channel, stream);
          resolve(options);
          if (msg['publication'] === undefined) return;
        }
        const pub = msg['publication'];
        if (pub && typeof pub === 'object') {
          queue.push(pub as Plain);
          if (!flushing) {
            flushing = true;
            flush();
          }
        }
      });
      call.on('error', (err: Error) => {
        if (!decided) {
          this.logger.error({ ...log, error: err.message }, 'subscribe stream proxy failed');
          fail(new ClientError(ErrorCode.internal));
          return;
        }
        this.ended(sc, a.channel, stream, err.message);
      });
      call.on('end', () => {
        if (!decided) {
          fail(new ClientError(ErrorCode.internal));
          return;
        }
        this.ended(sc, a.channel, stream, 'stream ended');
      });
    });
  }

  /** A client publication into a bidirectional stream channel: forwarded to the backend. */
  publish(client: ClientView, channel: string, data: Uint8Array): boolean {
    const s = this.streams.get(client.id)?.get(channel);
    if (!s || !s.bidirectional || s.cancelled) return false;
    (s.call as grpc.ClientDuplexStream<Plain, Plain>).write({ publication: { data } });
    return true;
  }

  /** The client left the channel: cancel its stream. */
  unsubscribed(clientId: string, channel: string): void {
    const per = this.streams.get(clientId);
    const s = per?.get(channel);
    if (!per || !s) return;
    per.delete(channel);
    if (per.size === 0) this.streams.delete(clientId);
    s.cancelled = true;
    s.call.cancel();
  }

  /** The client disconnected: cancel all its streams. */
  disconnected(clientId: string): void {
    const per = this.streams.get(clientId);
    if (!per) return;
    this.streams.delete(clientId);
    for (const s of per.values()) {
      s.cancelled = true;
      s.call.cancel();
    }
  }

  /** Cancels every stream. */
  close(): void {
    for (const id of [...this.streams.keys()]) this.disconnected(id);
  }

  private add(clientId: string, channel: string, stream: ActiveStream): void {
    let per = this.streams.get(clientId);
    if (!per) {
      per = new Map();
      this.streams.set(clientId, per);
    }
    per.get(channel)?.call.cancel();
    per.set(channel, stream);
  }

  private ended(sc: StreamClient, channel: string, stream: ActiveStream, why: string): void {
    if (stream.cancelled) return;
    stream.cancelled = true;
    const per = this.streams.get(sc.id);
    if (per?.get(channel) === stream) {
      per.delete(channel);
      if (per.size === 0) this.streams.delete(sc.id);
    }
    this.logger.info({ client: sc.id, channel, reason: why }, 'subscribe stream ended, unsubscribing client');
    // 2500: the SDK resubscribes, which opens a new stream.
    sc.unsubscribe(channel, { code: 2500, reason: 'insufficient state' });
  }
}

function bytesOf(v: unknown): Uint8Array {
  return v instanceof Uint8Array ? v : new Uint8Array(0);
}
