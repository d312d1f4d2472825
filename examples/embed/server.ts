/**
 * Embedding Gyre's core in a plain Node application: a `ws` WebSocketServer hands each socket to
 * a Gyre `Node` through a tiny Transport adapter, and the application decides who connects, what
 * they may subscribe and publish, and answers RPCs. Run it with `npx tsx examples/embed/server.ts`
 * and connect with the `centrifuge` SDK to `ws://localhost:8000/connection/websocket?user=alice`.
 */
import { createServer, type Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ClientError,
  ErrorCode,
  Node,
  codecFor,
  type Codec,
  type Disconnect,
  type NodeHandlers,
  type ProtocolType,
  type Transport,
} from '../../src/index.js';

/** Adapts one `ws` socket to Gyre's Transport contract (the server package has a fuller one). */
class WsTransport implements Transport {
  readonly name = 'websocket';
  readonly unidirectional = false;
  readonly emulation = false;
  readonly protocolPing = true;
  private readonly codec: Codec;

  constructor(
    private readonly ws: WebSocket,
    readonly protocol: ProtocolType,
  ) {
    this.codec = codecFor(protocol);
  }

  write(messages: readonly Uint8Array[]): void {
    // The whole batch goes out as one frame: JSON as text, Protobuf as binary.
    this.ws.send(this.codec.joinFrame(messages), { binary: this.protocol === 'protobuf' });
  }

  close(d: Disconnect): void {
    if (d.code === 3000) this.ws.close();
    else this.ws.close(d.code, d.reason);
  }
}

const decoder = new TextDecoder();

function jsonOf(data: Uint8Array | undefined): Record<string, unknown> {
  if (!data || data.length === 0) return {};
  try {
    const v: unknown = JSON.parse(decoder.decode(data));
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The application's rules. */
function appHandlers(): NodeHandlers {
  const chatHistory = { historySize: 100, historyTtl: 300_000 };
  return {
    // The user comes from `?user=` or from connect data `{ "user": "..." }`.
    onConnecting: async (e) => {
      const query = new URL(e.meta.url ?? '/', 'http://localhost').searchParams;
      const fromData = jsonOf(e.data)['user'];
      const user = query.get('user') ?? (typeof fromData === 'string' ? fromData : '');
      if (user === '') throw new ClientError(ErrorCode.unauthorized);
      return { credentials: { userId: user, info: Buffer.from(JSON.stringify({ name: user })) } };
    },
    onSubscribe: async (_client, e) => {
      if (!e.channel.startsWith('chat:')) throw new ClientError(ErrorCode.permissionDenied);
      return {
        options: {
          emitPresence: true,
          emitJoinLeave: true,
          pushJoinLeave: e.joinLeave,
          enableRecovery: e.recoverable,
          enablePositioning: e.positioned || e.recoverable,
        },
      };
    },
    onPublish: async (_client, e) => {
      if (!e.channel.startsWith('chat:')) throw new ClientError(ErrorCode.permissionDenied);
      return { options: chatHistory };
    },
    onPresence: async (client, e) => {
      if (!client.isSubscribed(e.channel)) throw new ClientError(ErrorCode.permissionDenied);
    },
    onPresenceStats: async (client, e) => {
      if (!client.isSubscribed(e.channel)) throw new ClientError(ErrorCode.permissionDenied);
    },
    onRPC: async (_client, e) => ({ data: e.data }),
  };
}

export interface EmbedServer {
  port: number;
  node: Node;
  close(): Promise<void>;
}

/** Starts the example on `port` (0 = any free port). */
export async function startEmbedServer(port = 0): Promise<EmbedServer> {
  const node = new Node({ name: 'embed-example', version: '0.1.0', handlers: appHandlers() });
  await node.run();

  const http: Server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) =>
      protocols.has('centrifuge-protobuf')
        ? 'centrifuge-protobuf'
        : protocols.has('centrifuge-json')
          ? 'centrifuge-json'
          : false,
  });
  http.on('upgrade', (req, socket, head) => {
    if (!req.url?.startsWith('/connection/websocket')) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const protobuf =
        ws.protocol === 'centrifuge-protobuf' || url.searchParams.get('cf_protocol') === 'protobuf';
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      const meta = {
        headers,
        url: req.url ?? '/',
        ...(req.socket.remoteAddress ? { remoteAddress: req.socket.remoteAddress } : {}),
      };
      const client = node.handleTransport(new WsTransport(ws, protobuf ? 'protobuf' : 'json'), meta);
      ws.on('message', (data: Buffer) => client.handleData(data));
      ws.on('close', () => client.handleClose());
      ws.on('error', () => client.handleClose());
    });
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  const address = http.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;

  return {
    port: actualPort,
    node,
    async close() {
      await node.shutdown();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const server = await startEmbedServer(Number(process.env['PORT'] ?? 8000));
  console.log(`embed example on ws://127.0.0.1:${server.port}/connection/websocket?user=alice`);
  setInterval(() => {
    void server.node.publish('chat:news', Buffer.from(JSON.stringify({ text: 'tick', at: Date.now() })));
  }, 5000).unref();
  process.on('SIGINT', () => void server.close().then(() => process.exit(0)));
}
