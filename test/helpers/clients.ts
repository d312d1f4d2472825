/**
 * Client factories for end-to-end tests: the official `centrifuge` SDK (JSON and Protobuf
 * builds) over the `ws` WebSocket implementation, and the `cent.js` server API client.
 */
import { Centrifuge as JsonCentrifuge, type Options, type Subscription } from 'centrifuge';
import { Centrifuge as ProtobufCentrifuge } from 'centrifuge/build/protobuf';
import { CentClient } from 'cent.js';
import WebSocket from 'ws';
import { API_KEY } from './e2e-config.js';
import type { Cleanup } from './gyre.js';

/** A Centrifuge client of either build (same public API). */
export type SdkClient = JsonCentrifuge;

/** Quiet, fast-retry defaults for tests; callers override any of them. */
const testDefaults: Partial<Options> = {
  websocket: WebSocket,
  minReconnectDelay: 100,
  maxReconnectDelay: 1000,
  timeout: 5000,
};

function track(c: SdkClient, t: Cleanup | undefined): SdkClient {
  t?.after(() => c.disconnect());
  return c;
}

/** JSON-protocol SDK client (`centrifuge` default build). Not connected yet. */
export function jsonClient(url: string, opts: Partial<Options> = {}, t?: Cleanup): SdkClient {
  return track(new JsonCentrifuge(url, { ...testDefaults, ...opts }), t);
}

/** Protobuf-protocol SDK client (`centrifuge/build/protobuf`). Not connected yet. */
export function protobufClient(url: string, opts: Partial<Options> = {}, t?: Cleanup): SdkClient {
  return track(new ProtobufCentrifuge(url, { ...testDefaults, ...opts }) as unknown as SdkClient, t);
}

/** Both SDK builds, for `for (const build of SDK_BUILDS)` loops. */
export const SDK_BUILDS = [
  { name: 'json', create: jsonClient },
  { name: 'protobuf', create: protobufClient },
] as const;

/** cent.js client for `apiUrl` (the API prefix, e.g. `http://127.0.0.1:8000/api`). */
export function apiClient(apiUrl: string, key?: string): CentClient {
  return key === undefined ? new CentClient({ url: apiUrl }) : new CentClient({ url: apiUrl, apiKey: key });
}

/** Connects `c` and resolves with the `connected` context (rejects on timeout/disconnect). */
export async function connectClient(c: SdkClient, timeoutMs = 5000): Promise<{ client: string }> {
  const connected = new Promise<{ client: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('SDK client did not connect in time')), timeoutMs);
    c.once('connected', (ctx) => {
      clearTimeout(timer);
      resolve(ctx);
    });
    c.once('disconnected', (ctx) => {
      clearTimeout(timer);
      reject(new Error(`SDK client disconnected while connecting: ${ctx.code} ${ctx.reason}`));
    });
  });
  c.connect();
  return connected;
}

/** A server API answer: its `result`, or an API `error`. */
export interface ApiAnswer {
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/**
 * Calls server API `method` of a running Gyre (`/api/<method>`, `X-API-Key`); throws unless the
 * HTTP status is 200 and returns the answer, which may hold an API error.
 */
export async function apiCall(
  node: { apiUrl: string },
  method: string,
  body: Record<string, unknown>,
  key = API_KEY,
): Promise<ApiAnswer> {
  const res = await apiPost(`${node.apiUrl}/${method}`, body, { 'X-API-Key': key });
  if (res.status !== 200) throw new Error(`API ${method}: HTTP ${res.status} ${res.text}`);
  return res.json as ApiAnswer;
}

/** POSTs JSON to the API with the given headers; returns status, raw text and parsed JSON (if any). */
export async function apiPost(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; json: unknown; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: callers look at `text`
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** One event recorded by {@link record}. */
export interface Recorded {
  event: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- SDK event contexts differ per event
  ctx: any;
}

/** Events a Centrifuge client or Subscription emits (all recorded by default). */
const ALL_EVENTS = [
  'state',
  'connecting',
  'connected',
  'disconnected',
  'error',
  'subscribing',
  'subscribed',
  'unsubscribed',
  'publication',
  'join',
  'leave',
  'message',
];

/** Records events of `emitter` (an SDK client or Subscription) into an array, in order. */
export function record(
  emitter: { on(event: never, listener: never): unknown },
  events: string[] = ALL_EVENTS,
): Recorded[] {
  const log: Recorded[] = [];
  const on = emitter.on.bind(emitter) as unknown as (e: string, l: (ctx: unknown) => void) => unknown;
  for (const e of events) on(e, (ctx: unknown) => log.push({ event: e, ctx }));
  return log;
}

/**
 * Subscribes as an application does (`newSubscription(...args)`, then `subscribe()`), recording
 * every event of the subscription, and resolves once it is subscribed: the subscription, its
 * event log and the `subscribed` context.
 */
export async function subscribeAndWait(
  c: SdkClient,
  ...args: Parameters<SdkClient['newSubscription']>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see Recorded
): Promise<{ sub: Subscription; log: Recorded[]; ctx: any }> {
  const sub = c.newSubscription(...args);
  const log = record(sub);
  sub.subscribe();
  const ctx: unknown = await waitEvent(log, 'subscribed');
  return { sub, log, ctx };
}

/** Waits until `log` holds an `event` whose context satisfies `pred`; returns that context. */
export async function waitEvent(
  log: Recorded[],
  event: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see Recorded
  pred: (ctx: any) => boolean = () => true,
  timeoutMs = 5000,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see Recorded
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = log.find((r) => r.event === event && pred(r.ctx));
    if (hit) return hit.ctx;
    if (Date.now() > deadline) {
      const seen = log.map((r) => `${r.event}:${safeJson(r.ctx)}`).join(', ');
      throw new Error(`no "${event}" event matched within ${timeoutMs}ms; seen: [${seen}]`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function safeJson(v: unknown): string {
  try {
    const s = JSON.stringify(v, (_k, val: unknown) =>
      val instanceof Uint8Array ? `bytes(${Buffer.from(val).toString('utf8')})` : val,
    );
    return s.length > 200 ? `${s.slice(0, 200)}...` : s;
  } catch {
    return String(v);
  }
}
