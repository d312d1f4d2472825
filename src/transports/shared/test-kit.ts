/**
 * Test support for the HTTP transports (used by their `*.test.ts` files only): an in-process
 * server on port 0 routing every transport of this folder to one core `Node`, and a raw stream
 * reader that parses JSON lines, SSE events or varint-delimited Protobuf replies as they arrive.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NodeHandlers } from '../../core/handlers.js';
import { Node } from '../../core/node.js';
import type { ClientOptions } from '../../core/options.js';
import { ClientError } from '../../protocol/codes.js';
import { ProtobufStreamDecoder } from '../../protocol/frame.js';
import { decodeReply } from '../../protocol/protobuf-codec.js';
import { defaultConfig, type Config } from '../../server/config/index.js';
import { createEmulationHandler } from '../emulation/index.js';
import { createHttpStreamHandler } from '../http-stream/index.js';
import { createSseHandler } from '../sse/index.js';
import { createUniHttpStreamHandler } from '../uni-http-stream/index.js';
import { createUniSseHandler } from '../uni-sse/index.js';
import { createUniWebSocketHandler } from '../uni-websocket/index.js';
import type { HttpHandler, OriginCheck } from './http.js';

/** Polls `cond` until it returns a truthy value; rejects after `timeoutMs`. */
export async function waitFor<T>(
  cond: () => T,
  timeoutMs = 3000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Handlers accepting everyone: the token is the user id (`anon` when empty); token `denied`
 * fails with 103, `expired` with 109, `limited` with 111. A `sub:<channel>` token subscribes the
 * connection server-side to that channel. Subscriptions publish, have presence and receive
 * join/leave.
 */
export function testHandlers(): NodeHandlers {
  return {
    onConnecting: async (ev) => {
      const token = ev.token ?? '';
      if (token === 'denied') throw new ClientError(103);
      if (token === 'expired') throw new ClientError(109);
      if (token === 'limited') throw new ClientError(111);
      if (token.startsWith('sub:')) {
        return {
          credentials: { userId: 'u1' },
          subscriptions: { [token.slice(4)]: { emitJoinLeave: true, pushJoinLeave: true } },
        };
      }
      return { credentials: { userId: token === '' ? 'anon' : token } };
    },
    onSubscribe: async () => ({ options: { emitJoinLeave: true, pushJoinLeave: true, emitPresence: true } }),
    onPublish: async () => ({}),
    onPresence: async () => {},
  };
}

export interface Kit {
  node: Node;
  config: Config;
  /** `http://127.0.0.1:<port>` */
  url: string;
  server: Server;
  close(): Promise<void>;
}

export interface KitOptions {
  configure?(c: Config): void;
  handlers?: NodeHandlers;
  client?: Partial<ClientOptions>;
  checkOrigin?: OriginCheck;
}

/** Starts a node and an HTTP server serving every transport of this folder on port 0. */
export async function startKit(o: KitOptions = {}): Promise<Kit> {
  const config = defaultConfig();
  o.configure?.(config);
  const node = new Node({ name: 'test', handlers: o.handlers ?? testHandlers(), client: o.client ?? {} });
  await node.run();
  const logger = node.logger;
  const check = o.checkOrigin ?? ((): boolean => true);
  const routes = new Map<string, HttpHandler>([
    [config.http_stream.handler_prefix, createHttpStreamHandler(node, config, logger, check)],
    [config.sse.handler_prefix, createSseHandler(node, config, logger, check)],
    [config.emulation.handler_prefix, createEmulationHandler(node, config, logger, check)],
    [config.uni_sse.handler_prefix, createUniSseHandler(node, config, logger, check)],
    [config.uni_http_stream.handler_prefix, createUniHttpStreamHandler(node, config, logger, check)],
  ]);
  const uniWs = createUniWebSocketHandler(node, config, logger, check);
  const pathOf = (url = '/'): string => url.split('?')[0] ?? '/';
  const server = createServer((req, res) => {
    const h = routes.get(pathOf(req.url));
    if (h) h(req, res);
    else res.writeHead(404).end();
  });
  server.on('upgrade', (req, socket, head) => {
    if (pathOf(req.url) === config.uni_websocket.handler_prefix) uniWs(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    node,
    config,
    url: `http://127.0.0.1:${port}`,
    server,
    async close() {
      await node.shutdown();
      uniWs.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A decoded message of a test stream (loosely typed on purpose: tests read nested fields). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

export type Framing = 'lines' | 'sse' | 'protobuf';

/** A streamed HTTP response read as it arrives. */
export interface StreamReader {
  status: number;
  headers: IncomingHttpHeaders;
  /** Everything received, as text. */
  raw(): string;
  /** Parsed messages so far (JSON objects; decoded Replies for `protobuf`). */
  messages: Msg[];
  ended: boolean;
  /** Resolves with the first message (from the start) matching `pred`. */
  next(pred: (m: Msg) => boolean, what?: string): Promise<Msg>;
  close(): void;
}

/** Sends one request and resolves when the response headers arrive. */
export function openStream(
  url: string,
  o: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Uint8Array;
    framing?: Framing;
  } = {},
): Promise<StreamReader> {
  const framing = o.framing ?? 'lines';
  return new Promise((resolve, reject) => {
    const req = request(url, { method: o.method ?? 'POST', headers: o.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      let text = '';
      const pb = new ProtobufStreamDecoder();
      const reader: StreamReader = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: () => Buffer.concat(chunks).toString(),
        messages: [],
        ended: false,
        next: (pred, what = 'message') => waitFor(() => reader.messages.find(pred), 3000, what),
        close: () => req.destroy(),
      };
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (framing === 'protobuf') {
          for (const m of pb.push(new Uint8Array(chunk))) reader.messages.push(decodeReply(m));
          return;
        }
        text += chunk.toString();
        const sep = framing === 'sse' ? '\n\n' : '\n';
        let i = text.indexOf(sep);
        while (i >= 0) {
          const part = text.slice(0, i).replace(/^\r\n/, '');
          text = text.slice(i + sep.length);
          const json = framing === 'sse' ? part.replace(/^data: /, '') : part;
          if (json !== '') reader.messages.push(JSON.parse(json));
          i = text.indexOf(sep);
        }
      });
      res.on('end', () => (reader.ended = true));
      res.on('close', () => (reader.ended = true));
      res.on('error', () => (reader.ended = true));
      resolve(reader);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** POSTs a body and resolves with status and text once the response is complete. */
export function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string> = { 'Content-Type': 'application/json' },
  method = 'POST',
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          headers: res.headers,
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** JSON text of one command line. */
export function cmd(c: Record<string, unknown>): string {
  return JSON.stringify(c);
}
