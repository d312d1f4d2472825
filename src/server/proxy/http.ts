import http from 'node:http';
import https from 'node:https';
import type { ProxyConfig } from '../config/index.js';
import {
  ProxyCallError,
  forwardedHeaders,
  normalizeResult,
  readOutcome,
  type CallContext,
  type ProxyMethodName,
  type ProxyRequest,
  type ProxyResponse,
  type ProxyTransport,
} from './transport.js';

const maxBodyBytes = 64 * 1024 * 1024;
const encoder = new TextEncoder();

/**
 * Encodes a request as the JSON body of proxy.md §3: `data` spliced in as raw JSON (so the
 * client's bytes pass through untouched), or as base64 `b64data` in binary mode; `meta` as JSON.
 * Payload bytes that are not JSON in JSON mode ⇒ {@link ProxyCallError}.
 */
export function encodeHttpBody(request: ProxyRequest, binary: boolean): string {
  const { data, ...rest } = request;
  const body = JSON.stringify(rest);
  if (data === undefined || data.length === 0) return body;
  if (binary)
    return `{"b64data":${JSON.stringify(Buffer.from(data).toString('base64'))}${body === '{}' ? '' : ','}${body.slice(1)}`;
  const raw = Buffer.from(data).toString('utf8');
  try {
    JSON.parse(raw);
  } catch {
    throw new ProxyCallError('payload is not JSON (enable binary_encoding for binary data)');
  }
  return `{"data":${raw}${body === '{}' ? '' : ','}${body.slice(1)}`;
}

function rawJsonBytes(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  return encoder.encode(JSON.stringify(v));
}

function metaObject(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** Decodes an HTTP proxy response body (`result` / `error` / `disconnect`). */
export function decodeHttpBody(text: string): ProxyResponse {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ProxyCallError('invalid JSON in proxy response', { cause: err });
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ProxyCallError('proxy response is not a JSON object');
  }
  const out = readOutcome(body as Record<string, unknown>);
  if (out.result) normalizeResult(out.result, rawJsonBytes, metaObject);
  return out;
}

/**
 * HTTP proxy (proxy.md §1): `POST endpoint` with a JSON body, `Content-Type: application/json`
 * forced, keep-alive connections (up to 255 idle per host), the whole exchange bounded by the
 * proxy `timeout`. Only HTTP 200 is a response; other statuses go through
 * `http.status_to_code_transforms` or fail.
 */
export class HttpProxyTransport implements ProxyTransport {
  readonly kind = 'http' as const;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(private readonly cfg: ProxyConfig) {
    this.url = new URL(cfg.endpoint);
    const secure = this.url.protocol === 'https:';
    const agentOpts = { keepAlive: true, maxFreeSockets: 255 };
    if (secure) {
      const tls = cfg.http.tls;
      const opts: https.AgentOptions = { ...agentOpts };
      if (tls.enabled) {
        if (tls.server_ca_pem !== '') opts.ca = tls.server_ca_pem;
        if (tls.cert_pem !== '') opts.cert = tls.cert_pem;
        if (tls.key_pem !== '') opts.key = tls.key_pem;
        if (tls.insecure_skip_verify) opts.rejectUnauthorized = false;
        if (tls.server_name !== '') opts.servername = tls.server_name;
      }
      this.agent = new https.Agent(opts);
      this.request = https.request;
    } else {
      this.agent = new http.Agent(agentOpts);
      this.request = http.request;
    }
  }

  call(_method: ProxyMethodName, request: ProxyRequest, ctx: CallContext): Promise<ProxyResponse> {
    let payload: Buffer;
    try {
      payload = Buffer.from(encodeHttpBody(request, this.cfg.binary_encoding));
    } catch (err) {
      return Promise.reject(err instanceof ProxyCallError ? err : new ProxyCallError(String(err)));
    }
    const headers: Record<string, string> = forwardedHeaders(this.cfg, ctx, this.cfg.http.static_headers);
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
    const timeout = this.cfg.timeout > 0 ? this.cfg.timeout : 1000;

    return new Promise<ProxyResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, res?: ProxyResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res ?? {});
      };
      const req = this.request(this.url, { method: 'POST', headers, agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBodyBytes) {
            req.destroy(new ProxyCallError('proxy response too large'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err) =>
          finish(new ProxyCallError(`proxy response error: ${err.message}`, { cause: err })),
        );
        res.on('end', () => {
          if (status !== 200) {
            const transformed = this.transform(status);
            if (transformed) finish(undefined, transformed);
            else finish(new ProxyCallError(`unexpected HTTP status ${status}`));
            return;
          }
          try {
            finish(undefined, decodeHttpBody(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            finish(err instanceof Error ? err : new ProxyCallError(String(err)));
          }
        });
      });
      const timer = setTimeout(() => {
        req.destroy(new ProxyCallError(`proxy request timed out after ${timeout}ms`));
      }, timeout);
      req.on('error', (err) =>
        finish(
          err instanceof ProxyCallError
            ? err
            : new ProxyCallError(`proxy request failed: ${err.message}`, { cause: err }),
        ),
      );
      req.end(payload);
    });
  }

  /** `http.status_to_code_transforms`: a configured status becomes an error or a disconnect. */
  private transform(status: number): ProxyResponse | undefined {
    const t = this.cfg.http.status_to_code_transforms.find((x) => x.status_code === status);
    if (!t) return undefined;
    if (t.to_error.code > 0) return { error: { ...t.to_error } };
    if (t.to_disconnect.code > 0) return { disconnect: { ...t.to_disconnect } };
    return undefined;
  }

  close(): void {
    this.agent.destroy();
  }
}
