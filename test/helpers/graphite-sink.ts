/**
 * A TCP listener that plays Graphite's plaintext receiver (port 2003): it accepts connections and
 * records every `path value timestamp` line it is sent. There is no Graphite on the test machines;
 * this is the peer the exporter talks to, over real sockets.
 */
import { once } from 'node:events';
import net from 'node:net';

export class GraphiteSink {
  readonly lines: string[] = [];
  /** Connections accepted so far. */
  connections = 0;
  /** Connections the other side closed cleanly (FIN). */
  endedByPeer = 0;
  port = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;

  /** Listens on 127.0.0.1 (`port` 0 picks a free one). */
  async listen(port = 0): Promise<this> {
    const server = net.createServer((sock) => {
      this.connections++;
      this.sockets.add(sock);
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
      sock.on('end', () => this.endedByPeer++);
      sock.on('error', () => {});
      sock.on('close', () => this.sockets.delete(sock));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this;
  }

  /** Stops listening and drops every open connection (Graphite going down). */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Connections open now. */
  get open(): number {
    return this.sockets.size;
  }

  /** Waits until a recorded line (from index `from` on) satisfies `pred` and returns it. */
  async line(pred: (l: string) => boolean, timeoutMs = 5000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find(pred);
      if (hit !== undefined) return hit;
      if (Date.now() > deadline) {
        throw new Error(
          `no matching Graphite line within ${timeoutMs} ms; last lines:\n${this.lines.slice(-40).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** `path value timestamp` of one plaintext line; throws on anything else. */
export function parseGraphiteLine(line: string): { path: string; value: number; ts: number } {
  const m = /^(\S+) (-?[0-9.]+) ([0-9]+)$/.exec(line);
  if (!m) throw new Error(`not a Graphite plaintext line: ${JSON.stringify(line)}`);
  return { path: m[1] as string, value: Number(m[2]), ts: Number(m[3]) };
}
