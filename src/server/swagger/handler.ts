/**
 * The Swagger UI of the HTTP server API (`swagger.enabled`, at `swagger.handler_prefix`, default
 * `/swagger`): Swagger UI's own files from the `swagger-ui-dist` package, a page and a start script
 * of Gyre's, and the OpenAPI document of `openapi.ts`, all held in memory from start-up.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { contentTypeOf } from '../../util/content-type.js';
import { openApiDocument, type OpenApiOptions } from './openapi.js';

/** Files of `swagger-ui-dist` the page loads. */
const DIST_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png', 'favicon-16x16.png'];

const INDEX_HTML = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <title>Gyre server API</title>
    <link rel="stylesheet" href="./swagger-ui.css" />
    <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32" />
    <link rel="icon" type="image/png" href="./favicon-16x16.png" sizes="16x16" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./swagger-ui-bundle.js"></script>
    <script src="./start.js"></script>
  </body>
</html>
`;

// The API key entered under "Authorize" is kept in the browser's local storage across reloads.
const START_JS = `window.ui = SwaggerUIBundle({
  url: './openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
});
`;

/** Same-origin resources only; Swagger UI's icons are data: URIs. */
const HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
  'Cache-Control': 'no-cache',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer, name: string): Asset {
  return {
    body,
    type: contentTypeOf(name),
    etag: `"${createHash('sha1').update(body).digest('base64url')}"`,
  };
}

/** The directory of the installed `swagger-ui-dist` package. */
function distDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

export interface SwaggerOptions extends OpenApiOptions {
  /** `swagger.handler_prefix`, normalised (no trailing slash). */
  prefix: string;
}

/**
 * The Swagger UI's endpoints by exact path, for a listener's `endpoints` map: the prefix itself
 * redirects to the prefix with a slash, which serves the page.
 */
export function swaggerEndpoints(
  o: SwaggerOptions,
): Map<string, (req: IncomingMessage, res: ServerResponse) => void> {
  const dir = distDir();
  const files = new Map<string, Asset>();
  for (const f of DIST_FILES) files.set(f, asset(readFileSync(join(dir, f)), f));
  files.set('start.js', asset(Buffer.from(START_JS), 'start.js'));
  files.set('openapi.json', asset(Buffer.from(JSON.stringify(openApiDocument(o))), 'openapi.json'));
  const index = asset(Buffer.from(INDEX_HTML), 'index.html');

  const base = o.prefix === '/' ? '' : o.prefix;
  const out = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const serve = (a: Asset) => (req: IncomingMessage, res: ServerResponse) => send(req, res, a);
  out.set(`${base}/`, serve(index));
  out.set(`${base}/index.html`, serve(index));
  for (const [name, a] of files) out.set(`${base}/${name}`, serve(a));
  if (base !== '') {
    out.set(base, (req, res) => {
      res.writeHead(301, { Location: `${base}/` }).end();
      req.resume();
    });
  }
  return out;
}

function send(req: IncomingMessage, res: ServerResponse, a: Asset): void {
  req.resume();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const headers = { ...HEADERS, ETag: a.etag };
  if (req.headers['if-none-match'] === a.etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': a.type, 'Content-Length': a.body.length });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}
