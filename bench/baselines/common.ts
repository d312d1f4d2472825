import type { IncomingMessage, ServerResponse } from 'node:http';

/** A publication request as the bench publisher sends it (same body as Gyre's `/api/publish`). */
export interface PublishBody {
  channel: string;
  data: unknown;
}

/**
 * Shared `POST /api/publish` handling for the baseline servers: same path, header and body as
 * Gyre's HTTP API so the publisher treats every target alike. Calls `deliver` once per request.
 */
export function handlePublish(
  req: IncomingMessage,
  res: ServerResponse,
  apiKey: string,
  deliver: (body: PublishBody) => void,
): void {
  if (req.method !== 'POST' || req.url !== '/api/publish') {
    res.writeHead(404).end();
    return;
  }
  if (req.headers['x-api-key'] !== apiKey) {
    res.writeHead(401).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body: PublishBody;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PublishBody;
    } catch {
      res.writeHead(400).end();
      return;
    }
    deliver(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":{}}');
  });
}

/** Channels requested in a connection URL (`?channels=a,b`). */
export function channelsFromUrl(url: string | undefined): string[] {
  return parseChannels(new URL(url ?? '/', 'http://x').searchParams.get('channels'));
}

/** Split a `channels` query value (comma-separated; channel names used by the bench have no comma). */
export function parseChannels(value: unknown): string[] {
  return typeof value === 'string' && value.length > 0 ? value.split(',') : [];
}

/** Print the line the bench harness waits for. */
export function announce(port: number): void {
  process.stdout.write(JSON.stringify({ msg: 'baseline listening', port }) + '\n');
}

/** Options every baseline takes from its environment. */
export function baselineEnv(): { apiKey: string; port: number } {
  return { apiKey: process.env.BENCH_API_KEY ?? 'bench', port: Number(process.env.PORT ?? 0) };
}
