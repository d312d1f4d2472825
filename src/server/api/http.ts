import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import type { ApiSpan, ApiTracer } from '../tracing.js';
import { httpStatusFor } from './errors.js';
import type { ApiExecutor } from './executor.js';
import { encodeJson, JsonObject, JsonTypeError, skipValue, skipWs } from './json.js';
import { legacyMethodNames, methodsByLegacyId, methodsByName, type ApiMethod } from './methods.js';

export interface HttpApiOptions {
  /** `http_api.handler_prefix`, default `/api`. */
  prefix: string;
  /** `http_api.key`; empty ⇒ every request 401 unless insecure. */
  key: string;
  insecure: boolean;
  /** `http_api.error_mode`: `transport` maps errors to HTTP statuses for every request. */
  errorMode: string;
  /** Largest accepted request body in bytes (413 beyond). */
  maxBodySize: number;
  logger: Logger;
  /** Traces every request (`opentelemetry.api`); absent = no tracing. */
  tracer?: ApiTracer;
}

/** Default request body limit of the HTTP API. */
export const DEFAULT_API_MAX_BODY = 32 * 1024 * 1024;

const UINT32_MAX = 2 ** 32 - 1;

/** A routed API request: the legacy newline endpoint or one method. */
export type ApiRoute = { legacy: true } | { legacy: false; method: ApiMethod };

/**
 * The HTTP adapter of the server API (server-api.md §1-3): `POST <prefix>/<method>` with a JSON
 * request body, and the legacy `POST <prefix>` endpoint taking newline-separated
 * `{id, method, params}` commands. Auth: `X-API-Key`, `Authorization: apikey <key>`, `?api_key=`.
 */
export class HttpApi {
  private readonly base: string;
  private readonly keyBytes: Buffer;
  private shuttingDown = false;
  /** Requests whose headers arrived and whose response has not closed (bodies still arriving count). */
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly executor: ApiExecutor,
    private readonly options: HttpApiOptions,
  ) {
    const p = options.prefix.replace(/\/+$/, '');
    this.base = p === '' ? '/' : p;
    this.keyBytes = Buffer.from(options.key);
  }

  /** Makes the legacy endpoint answer 503 from now on. */
  setShuttingDown(): void {
    this.shuttingDown = true;
  }

  /** The API route of `path` (without query), or undefined when the path is not the API's. */
  route(path: string): ApiRoute | undefined {
    if (path === this.base) return { legacy: true };
    const head = this.base === '/' ? '/' : `${this.base}/`;
    if (!path.startsWith(head)) return undefined;
    const m = methodsByName.get(path.slice(head.length));
    return m === undefined ? undefined : { legacy: false, method: m };
  }

  /** Resolves once no API request is in progress (graceful shutdown waits for it). */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  handle(req: IncomingMessage, res: ServerResponse, route: ApiRoute): void {
    this.active++;
    res.once('close', () => {
      this.active--;
      if (this.active === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
    const span = this.options.tracer?.http(req, res);
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      req.resume();
      return;
    }
    if (!this.authorized(req)) {
      res.writeHead(401).end();
      req.resume();
      return;
    }
    readBody(req, this.options.maxBodySize).then(
      (body) => {
        if (body === undefined) {
          span?.fail('request body too large');
          plainError(res, 413, 'Request Entity Too Large');
          return;
        }
        const done = route.legacy
          ? this.handleLegacy(req, res, body, span)
          : this.handleMethod(req, res, route.method, body, span);
        done.catch((err: unknown) => {
          this.options.logger.error({ err }, 'error handling API request');
          if (!res.headersSent) plainError(res, 500, 'Internal Server Error');
          else res.end();
        });
      },
      (err: unknown) => {
        this.options.logger.error({ err }, 'error reading API request body');
        if (!res.headersSent) plainError(res, 500, 'Internal Server Error');
      },
    );
  }

  private transportMode(req: IncomingMessage): boolean {
    return this.options.errorMode === 'transport' || req.headers['x-centrifugo-error-mode'] === 'transport';
  }

  private async handleMethod(
    req: IncomingMessage,
    res: ServerResponse,
    m: ApiMethod,
    body: Buffer,
    span?: ApiSpan,
  ): Promise<void> {
    let request: unknown;
    try {
      request = m.fromJson(JsonObject.parse(body.toString('utf8')));
    } catch (err) {
      this.options.logger.info({ method: m.name, err: String(err) }, 'error decoding API request body');
      span?.request(m.name, undefined);
      span?.fail(`bad request: ${String(err)}`);
      plainError(res, 400, 'Bad Request');
      return;
    }
    span?.request(m.name, request);
    const rep = await this.executor.execute(m.name, request);
    span?.reply(rep);
    if (m.unwrapped) {
      writeJson(res, 200, encodeJson(rep.result ?? { error: rep.error }));
      return;
    }
    if (rep.error !== undefined) {
      if (this.transportMode(req)) {
        writeJson(res, httpStatusFor(rep.error.code), encodeJson(rep.error));
      } else {
        writeJson(res, 200, encodeJson({ error: rep.error }));
      }
      return;
    }
    writeJson(res, 200, encodeJson({ result: rep.result ?? {} }));
  }

  private async handleLegacy(
    _req: IncomingMessage,
    res: ServerResponse,
    body: Buffer,
    span?: ApiSpan,
  ): Promise<void> {
    if (this.shuttingDown) {
      res.writeHead(503).end();
      return;
    }
    const text = body.toString('utf8');
    if (skipWs(text, 0) >= text.length) {
      plainError(res, 400, 'Bad Request');
      return;
    }
    const lines: string[] = [];
    let i = 0;
    for (;;) {
      i = skipWs(text, i);
      if (i >= text.length) break;
      const end = skipValue(text, i);
      let cmd: { id: number; methodId: number; params: JsonObject | null | undefined; paramsError: boolean };
      try {
        cmd = decodeLegacyCommand(text, i, end);
      } catch (err) {
        this.options.logger.info({ err: String(err) }, 'error decoding API data');
        span?.fail(`bad request: ${String(err)}`);
        plainError(res, 400, 'Bad Request');
        return;
      }
      i = end;
      lines.push(await this.runLegacy(cmd, span));
    }
    writeJson(res, 200, lines.join('\n'));
  }

  private async runLegacy(
    cmd: {
      id: number;
      methodId: number;
      params: JsonObject | null | undefined;
      paramsError: boolean;
    },
    span?: ApiSpan,
  ): Promise<string> {
    const reply: { id?: number; error?: object; result?: object } = {};
    if (cmd.id !== 0) reply.id = cmd.id;
    const m = methodsByLegacyId.get(cmd.methodId);
    if (m === undefined) {
      reply.error = { code: 104, message: 'not found' };
      span?.fail('104: not found', 104);
      return encodeJson(reply);
    }
    let request: unknown;
    if (m.name === 'info') {
      request = {};
    } else if (cmd.params === undefined || cmd.paramsError) {
      reply.error = { code: 107, message: 'bad request' };
      span?.request(m.name, undefined);
      span?.fail('107: bad request', 107);
      return encodeJson(reply);
    } else {
      try {
        request = m.fromJson(cmd.params);
      } catch {
        reply.error = { code: 107, message: 'bad request' };
        span?.request(m.name, undefined);
        span?.fail('107: bad request', 107);
        return encodeJson(reply);
      }
    }
    span?.request(m.name, request);
    const rep = await this.executor.execute(m.name, request);
    span?.reply(rep);
    if (rep.error !== undefined) reply.error = rep.error;
    else reply.result = rep.result ?? {};
    return encodeJson(reply);
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.options.insecure) return true;
    if (this.options.key === '') return false;
    const xKey = header(req, 'x-api-key');
    if (xKey !== '') {
      if (this.keyMatches(xKey)) return true;
    } else {
      const parts = header(req, 'authorization').trim().split(/\s+/);
      if (
        parts.length === 2 &&
        (parts[0] as string).toLowerCase() === 'apikey' &&
        this.keyMatches(parts[1] as string)
      ) {
        return true;
      }
    }
    const q = req.url?.indexOf('?') ?? -1;
    if (q !== -1) {
      const k = new URLSearchParams((req.url as string).slice(q + 1)).get('api_key');
      if (k !== null && this.keyMatches(k)) return true;
    }
    return false;
  }

  private keyMatches(candidate: string): boolean {
    const c = Buffer.from(candidate);
    return c.length === this.keyBytes.length && timingSafeEqual(c, this.keyBytes);
  }
}

/**
 * Decodes one legacy command value `text[start, end)`. Throws (⇒ HTTP 400) on invalid JSON, a
 * non-object command, a bad `id` or an unknown method name. A params object of the wrong shape is
 * not thrown: it is reported as `paramsError` (⇒ reply error 107).
 */
function decodeLegacyCommand(
  text: string,
  start: number,
  end: number,
): { id: number; methodId: number; params: JsonObject | null | undefined; paramsError: boolean } {
  JSON.parse(text.slice(start, end));
  const o = JsonObject.at(text, start, end);
  if (o === null) return { id: 0, methodId: 0, params: undefined, paramsError: false };
  const id = o.int('id', 0, UINT32_MAX);
  let methodId = 0;
  const mraw = o.raw('method');
  if (mraw !== undefined) {
    const v: unknown = JSON.parse(Buffer.from(mraw).toString('utf8'));
    if (typeof v === 'string') {
      const n = legacyMethodNames.get(v.toUpperCase());
      if (n === undefined) throw new JsonTypeError('unknown method');
      methodId = n;
    } else if (typeof v === 'number' && Number.isInteger(v) && v >= 0) {
      methodId = v;
    } else if (v !== null) {
      throw new JsonTypeError('bad method');
    }
  }
  let params: JsonObject | null | undefined;
  let paramsError = false;
  if (o.has('params')) {
    try {
      params = o.obj('params') ?? null;
    } catch {
      paramsError = true;
    }
  }
  return { id, methodId, params, paramsError };
}

function header(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  if (v === undefined) return '';
  return Array.isArray(v) ? (v[0] ?? '') : v;
}

function writeJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** A Go `http.Error`-style plain text answer. */
export function plainError(res: ServerResponse, status: number, text: string): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Reads the whole body; resolves undefined (and stops reading) when it exceeds `max` bytes. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > max) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (!over) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    req.once('error', reject);
  });
}
