/**
 * The Swagger UI of the HTTP server API (`swagger.enabled`, at `swagger.handler_prefix`, default
 * `/swagger`): Swagger UI's own files from the `swagger-ui-dist` package, a page and a start script
 * of Gyre's, and the OpenAPI document of `openapi.ts`, all held in memory from start-up.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EmbeddedFiles } from '../admin/static.js';
import type { HttpEndpoint } from '../http/router.js';
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

/** The directory of the installed `swagger-ui-dist` package. */
function distDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/**
 * The Swagger UI's endpoints, by path under its prefix (`''` serves the page), for
 * `endpointsUnder`. Files are served as the embedded admin UI's are (ETags, GET and HEAD only,
 * same-origin resources only).
 */
export function swaggerEndpoints(o: OpenApiOptions): Map<string, HttpEndpoint> {
  const dir = distDir();
  const bodies = new Map<string, Buffer>();
  for (const f of DIST_FILES) bodies.set(f, readFileSync(join(dir, f)));
  bodies.set('index.html', Buffer.from(INDEX_HTML));
  bodies.set('start.js', Buffer.from(START_JS));
  bodies.set('openapi.json', Buffer.from(JSON.stringify(openApiDocument(o))));
  const files = EmbeddedFiles.of(bodies);

  const out = new Map<string, HttpEndpoint>();
  for (const name of ['', ...bodies.keys()]) out.set(name, (req, res) => files.serve(req, res, name));
  return out;
}
