/**
 * Request body helpers of the admin endpoints: a bounded reader and the login form's `password`
 * field in the encodings a browser or a script sends (URL-encoded form, multipart form, JSON).
 */
import type { IncomingMessage } from 'node:http';

/** The server API's bounded body reader, shared so both endpoints treat oversized bodies alike. */
export { readBody } from '../api/http.js';

function mediaType(req: IncomingMessage): { type: string; params: Map<string, string> } {
  const raw = req.headers['content-type'] ?? '';
  const [type = '', ...rest] = raw.split(';');
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq === -1) continue;
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    params.set(p.slice(0, eq).trim().toLowerCase(), v);
  }
  return { type: type.trim().toLowerCase(), params };
}

/** The value of form field `name` in a `multipart/form-data` body, if present. */
export function multipartField(body: Buffer, boundary: string, name: string): string | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start !== -1) {
    const partStart = start + delimiter.length;
    const next = body.indexOf(delimiter, partStart);
    if (next === -1) break;
    const part = body.subarray(partStart, next);
    const headEnd = part.indexOf('\r\n\r\n');
    if (headEnd !== -1) {
      const head = part.subarray(0, headEnd).toString('utf8');
      const m = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(head);
      if (m !== null && m[1] === name) {
        let value = part.subarray(headEnd + 4);
        if (value.length >= 2 && value[value.length - 2] === 13 && value[value.length - 1] === 10) {
          value = value.subarray(0, value.length - 2);
        }
        return value.toString('utf8');
      }
    }
    start = next;
  }
  return undefined;
}

/**
 * The `password` of a login request: from the body (URL-encoded form, multipart form or a JSON
 * object), else from the query string. Empty string when absent or unreadable.
 */
export function formPassword(req: IncomingMessage, body: Buffer): string {
  const { type, params } = mediaType(req);
  let fromBody: string | undefined;
  if (type === 'application/x-www-form-urlencoded') {
    fromBody = new URLSearchParams(body.toString('utf8')).get('password') ?? undefined;
  } else if (type === 'multipart/form-data') {
    const boundary = params.get('boundary');
    if (boundary !== undefined && boundary !== '') fromBody = multipartField(body, boundary, 'password');
  } else if (type === 'application/json') {
    try {
      const v: unknown = JSON.parse(body.toString('utf8'));
      if (typeof v === 'object' && v !== null && 'password' in v) {
        const p = v.password;
        if (typeof p === 'string') fromBody = p;
      }
    } catch {
      // not JSON: no password
    }
  }
  if (fromBody !== undefined) return fromBody;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return q === -1 ? '' : (new URLSearchParams(url.slice(q + 1)).get('password') ?? '');
}
