/**
 * The admin web interface (Centrifugo's `admin` block): the UI under `<handler_prefix>/` and three
 * endpoints beside it.
 *
 * - `<prefix>/admin/auth` (POST, form field `password`): the right password ⇒ 200
 *   `{"token": "..."}`; a wrong one (or no password/secret configured) ⇒ 400.
 * - `<prefix>/admin/api` (POST, `{"method": "...", "params": {...}}`): runs one server API method
 *   through the same executor as `/api`. Needs `Authorization: token <token>` (or `?token=`)
 *   unless `admin.insecure`; otherwise 401.
 * - `<prefix>/admin/settings` and `<prefix>/admin/init`: `{"insecure", "edition", "authenticated"}`
 *   for the UI to decide whether to show the login form.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../core/logger.js';
import { ApiError } from '../api/errors.js';
import type { ApiExecutor } from '../api/executor.js';
import { DEFAULT_API_MAX_BODY, plainError } from '../api/http.js';
import { encodeJson, JsonObject } from '../api/json.js';
import { methodsByLegacyId, methodsByName, type ApiMethod } from '../api/methods.js';
import { formPassword, readBody } from './body.js';
import { WebProxy } from './proxy.js';
import { DirectoryFiles, EmbeddedFiles, embeddedUiDir } from './static.js';
import {
  ADMIN_TOKEN_TTL_MS,
  createAdminToken,
  passwordMatches,
  requestToken,
  verifyAdminToken,
} from './token.js';

/** Largest login request body. */
const AUTH_MAX_BODY = 1024 * 1024;

export interface AdminOptions {
  /** `admin.handler_prefix` ("" = the UI at `/`). */
  handlerPrefix: string;
  password: string;
  secret: string;
  insecure: boolean;
  /** `admin.web_path`: serve this directory instead of the embedded UI. */
  webPath: string;
  /** `admin.web_proxy_address`: proxy UI requests to this server (wins over `webPath`). */
  webProxyAddress: string;
  executor: ApiExecutor;
  logger: Logger;
  /** Directory of the embedded UI; default: the package's `web/admin`. */
  uiDir?: string;
  /** Clock for token expiry (tests). */
  now?: () => number;
  /** Token lifetime; default {@link ADMIN_TOKEN_TTL_MS}. */
  tokenTtlMs?: number;
}

interface UiServer {
  serve(req: IncomingMessage, res: ServerResponse, subPath: string, fullPath: string): void;
}

function writeJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** Routes and serves everything under the admin prefix. */
export class AdminHandler {
  /** The prefix without trailing slashes ("" for the root). */
  readonly prefix: string;
  /** Which UI is served: the embedded one, a directory or a development server. */
  readonly uiKind: 'embedded' | 'web_path' | 'proxy';
  private readonly authPath: string;
  private readonly apiPath: string;
  private readonly settingsPaths: ReadonlySet<string>;
  private readonly ui: UiServer;
  private readonly now: () => number;
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: AdminOptions) {
    this.prefix = o.handlerPrefix.replace(/\/+$/, '');
    this.authPath = `${this.prefix}/admin/auth`;
    this.apiPath = `${this.prefix}/admin/api`;
    this.settingsPaths = new Set([`${this.prefix}/admin/settings`, `${this.prefix}/admin/init`]);
    this.now = o.now ?? Date.now;
    if (o.insecure) o.logger.warn({}, 'admin.insecure: the admin UI and API need no password');
    if (o.webProxyAddress !== '') {
      const proxy = new WebProxy(o.webProxyAddress, o.logger);
      this.ui = { serve: (req, res) => proxy.handle(req, res) };
      this.uiKind = 'proxy';
    } else if (o.webPath !== '') {
      const dir = new DirectoryFiles(o.webPath);
      if (!dir.exists()) o.logger.warn({ web_path: o.webPath }, 'admin.web_path is not a directory');
      this.ui = dir;
      this.uiKind = 'web_path';
    } else {
      const files = new EmbeddedFiles(o.uiDir ?? embeddedUiDir());
      if (files.size === 0) o.logger.error({}, 'embedded admin UI files not found; the UI answers 404');
      this.ui = files;
      this.uiKind = 'embedded';
    }
  }

  /** True when `path` (without query) belongs to the admin interface. */
  match(path: string): boolean {
    if (path.startsWith(`${this.prefix}/`)) return true;
    return this.prefix !== '' && path === this.prefix;
  }

  /** Resolves once no admin API request is in progress. */
  idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  handle(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (path === this.apiPath) {
      this.track(res);
      this.handleApi(req, res);
    } else if (path === this.authPath) {
      this.handleAuth(req, res);
    } else if (this.settingsPaths.has(path)) {
      this.handleSettings(req, res);
    } else if (path === this.prefix) {
      // The UI lives under `<prefix>/`; relative links need the slash.
      const q = req.url?.indexOf('?') ?? -1;
      const query = q === -1 ? '' : (req.url as string).slice(q);
      res.writeHead(301, { Location: `${this.prefix}/${query}` }).end();
      req.resume();
    } else {
      this.ui.serve(req, res, path.slice(this.prefix.length + 1), path);
    }
  }

  private track(res: ServerResponse): void {
    this.active++;
    res.once('close', () => {
      this.active--;
      if (this.active === 0 && this.idleWaiters.length > 0) {
        const ws = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of ws) w();
      }
    });
  }

  /** True when the request may use the admin API (insecure mode, or a valid token). */
  private authenticated(req: IncomingMessage): boolean {
    if (this.o.insecure) return true;
    const token = requestToken(req);
    if (token === undefined || token === null) return false;
    return verifyAdminToken(this.o.secret, token, this.now());
  }

  private handleSettings(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    writeJson(
      res,
      200,
      JSON.stringify({ insecure: this.o.insecure, edition: 'oss', authenticated: this.authenticated(req) }),
    );
  }

  private handleAuth(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      req.resume();
      return;
    }
    readBody(req, AUTH_MAX_BODY).then(
      (body) => {
        if (body === undefined) {
          plainError(res, 413, 'Request Entity Too Large');
          return;
        }
        if (this.o.password === '' || this.o.secret === '') {
          this.o.logger.error({}, 'admin.password and admin.secret must be set to log in to the admin UI');
          plainError(res, 400, 'Bad Request');
          return;
        }
        if (!passwordMatches(formPassword(req, body), this.o.password)) {
          this.o.logger.info({ remote: req.socket.remoteAddress }, 'admin login with a wrong password');
          plainError(res, 400, 'Bad Request');
          return;
        }
        const token = createAdminToken(this.o.secret, this.now(), this.o.tokenTtlMs ?? ADMIN_TOKEN_TTL_MS);
        writeJson(res, 200, `${JSON.stringify({ token })}\n`);
      },
      () => {
        if (!res.headersSent) plainError(res, 400, 'Bad Request');
      },
    );
  }

  private handleApi(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      req.resume();
      return;
    }
    if (!this.o.insecure && this.o.secret === '') {
      this.o.logger.error({}, 'no admin.secret configured: admin API requests are refused');
    }
    if (!this.authenticated(req)) {
      res.writeHead(401).end();
      req.resume();
      return;
    }
    readBody(req, DEFAULT_API_MAX_BODY)
      .then(async (body) => {
        if (body === undefined) {
          plainError(res, 413, 'Request Entity Too Large');
          return;
        }
        const reply = await this.runCommand(body.toString('utf8'));
        if (reply === undefined) plainError(res, 400, 'Bad Request');
        else writeJson(res, 200, reply);
      })
      .catch((err: unknown) => {
        this.o.logger.error({ err }, 'error handling admin API request');
        if (!res.headersSent) plainError(res, 500, 'Internal Server Error');
        else res.end();
      });
  }

  /**
   * Runs one `{"id"?, "method", "params"}` command. Returns the JSON reply (`{"result"}` or
   * `{"error"}`, with the `id` echoed when non-zero), or `undefined` for a body that is not a
   * JSON object (HTTP 400).
   */
  private async runCommand(text: string): Promise<string | undefined> {
    let cmd: JsonObject | null;
    try {
      cmd = JsonObject.parse(text);
    } catch {
      return undefined;
    }
    if (cmd === null) return undefined;
    const reply: { id?: number; error?: object; result?: object } = {};
    let m: ApiMethod | undefined;
    try {
      const id = cmd.int('id', 0, 2 ** 32 - 1);
      if (id !== 0) reply.id = id;
      const raw = cmd.raw('method');
      const v: unknown = raw === undefined ? undefined : JSON.parse(Buffer.from(raw).toString('utf8'));
      if (typeof v === 'string') m = methodsByName.get(v.toLowerCase());
      else if (typeof v === 'number') m = methodsByLegacyId.get(v);
    } catch {
      return undefined;
    }
    if (m === undefined) {
      reply.error = new ApiError(104).toObject();
      return encodeJson(reply);
    }
    let request: unknown;
    try {
      request = m.fromJson(cmd.obj('params') ?? null);
    } catch {
      reply.error = new ApiError(107).toObject();
      return encodeJson(reply);
    }
    const rep = await this.o.executor.execute(m.name, request);
    if (rep.error !== undefined) reply.error = rep.error;
    else reply.result = rep.result ?? {};
    return encodeJson(reply);
  }
}
