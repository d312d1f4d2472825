import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ControlHandler, Controller } from '../../core/controller.js';
import { noopLogger, type Logger } from '../../core/logger.js';
import { SharedNatsConnection, withTimeout, type NatsSettings } from './connection.js';

/**
 * Node-to-node control over core NATS: broadcasts go to `<prefix>.control`, messages for one node
 * to `<prefix>.control.<node uid>`. At most once, in order per sender (one connection).
 */
export class NatsController implements Controller {
  private readonly conn: SharedNatsConnection;
  private readonly logger: Logger;
  private nc: NatsConnection | undefined;
  private readonly subs: Subscription[] = [];

  constructor(conn: SharedNatsConnection | NatsSettings, logger: Logger = noopLogger) {
    this.conn = conn instanceof SharedNatsConnection ? conn : new SharedNatsConnection(conn);
    this.logger = logger;
  }

  private get prefix(): string {
    return this.conn.settings.prefix;
  }

  async run(handler: ControlHandler): Promise<void> {
    const nc = await this.conn.acquire();
    this.nc = nc;
    const callback = (err: Error | null, msg: { data: Uint8Array }): void => {
      if (err) this.logger.warn({ err }, 'NATS control subscription error');
      else handler.onControl(msg.data);
    };
    this.subs.push(nc.subscribe(`${this.prefix}.control`, { callback }));
    if (handler.nodeId !== undefined) {
      this.subs.push(nc.subscribe(`${this.prefix}.control.${handler.nodeId}`, { callback }));
    }
    await withTimeout(nc.flush(), this.conn.settings.writeTimeout, 'NATS control subscribe');
  }

  async publishControl(data: Uint8Array, toNode?: string): Promise<void> {
    const nc = this.nc;
    if (nc === undefined || nc.isClosed()) return;
    nc.publish(toNode === undefined ? `${this.prefix}.control` : `${this.prefix}.control.${toNode}`, data);
  }

  async close(): Promise<void> {
    if (this.nc === undefined) return;
    // Let the last messages (the node's `leave`) reach the server before letting go.
    await withTimeout(this.nc.flush(), 1000, 'NATS flush').catch(() => undefined);
    for (const s of this.subs.splice(0)) s.unsubscribe();
    this.nc = undefined;
    await this.conn.release();
  }
}
