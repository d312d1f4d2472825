import { once } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from '../core/logger.js';
import { startServer, type RunningServer, type StartOptions } from './app.js';
import { defaultConfig, type Config } from './config/index.js';

/** Test support for the server's own tests: an in-process server on a free port. */
export interface TestServer extends RunningServer {
  base: string;
  wsUrl: string;
  logs: { level: string; obj: object; msg: string | undefined }[];
}

/** A logger recording every entry (for asserting on log lines). */
export function recordingLogger(logs: TestServer['logs']): Logger {
  const rec =
    (level: string) =>
    (obj: object, msg?: string): void => {
      logs.push({ level, obj, msg });
    };
  return { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/**
 * Starts a server with `defaultConfig()` changed by `configure` (port 0, API key `test-key`,
 * insecure client connections unless changed). Stops it after the test.
 */
export async function startTestServer(
  t: { after(fn: () => unknown): void },
  configure: (c: Config) => void = () => {},
  options: StartOptions = {},
): Promise<TestServer> {
  const config = defaultConfig();
  config.http_server.address = '127.0.0.1';
  config.http_server.port = 0;
  config.http_api.key = 'test-key';
  config.client.insecure = true;
  configure(config);
  const logs: TestServer['logs'] = [];
  const running = await startServer(config, recordingLogger(logs), options);
  t.after(() => running.shutdown());
  return {
    ...running,
    base: `http://127.0.0.1:${running.port}`,
    wsUrl: `ws://127.0.0.1:${running.port}${config.websocket.handler_prefix}`,
    logs,
  };
}

/** POSTs `body` (object ⇒ JSON) to `base + path` with the test API key. */
export async function post(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = { 'X-API-Key': 'test-key' },
): Promise<{ status: number; text: string; json: () => unknown }> {
  const res = await fetch(base + path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as unknown };
}

/** A JSON-protocol WebSocket client connected (insecure server) and recording every message line. */
export async function connectClient(
  wsUrl: string,
  subscribe: string[] = [],
): Promise<{ ws: WebSocket; lines: Record<string, unknown>[]; clientId: string }> {
  const ws = new WebSocket(wsUrl);
  const lines: Record<string, unknown>[] = [];
  ws.on('message', (data: Buffer) => {
    for (const l of data.toString().split('\n'))
      if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  await once(ws, 'open');
  const cmds = [JSON.stringify({ id: 1, connect: {} })];
  subscribe.forEach((ch, i) => cmds.push(JSON.stringify({ id: i + 2, subscribe: { channel: ch } })));
  ws.send(cmds.join('\n'));
  const deadline = Date.now() + 5000;
  while (lines.filter((l) => typeof l.id === 'number').length < cmds.length) {
    if (Date.now() > deadline) throw new Error('client did not connect');
    await new Promise((r) => setTimeout(r, 5));
  }
  const connect = lines.find((l) => l.id === 1)?.connect as { client: string };
  return { ws, lines, clientId: connect.client };
}
