/** Request listeners for the test backends (proxy targets, RPC servers, collectors). */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

/** A request listener called once the request's whole body has arrived, with it as text. */
export function withBody(
  handle: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString()));
  };
}
