import type { ControlHandler, Controller } from '../../core/controller.js';
import { KeyLayout } from './keys.js';
import type { RedisShard } from './shard.js';

export interface RedisControllerOptions {
  /** Control messages always use this one shard (the first of the engine's shards). */
  shard: RedisShard;
  /** This node's name: messages sent `toNode` this name reach this controller. */
  nodeName: string;
  /** Key and PUB/SUB channel prefix. Default `centrifugo`. */
  prefix?: string;
}

/**
 * Node-to-node control over Redis PUB/SUB: broadcasts go to `<prefix>.control`, messages for one
 * node to `<prefix>.control.<node>`; the payload is sent as is. Each node subscribes to both.
 *
 * `run()` resolves once both channels are subscribed, so a broadcast published after every node's
 * `run()` reaches all of them (this one included). `close()` unsubscribes and releases the shard.
 */
export class RedisController implements Controller {
  private readonly shard: RedisShard;
  private readonly keys: KeyLayout;
  private readonly nodeName: string;
  private handler: ControlHandler | undefined;
  private closed = false;

  constructor(options: RedisControllerOptions) {
    this.shard = options.shard.acquire();
    this.keys = new KeyLayout(options.prefix ?? 'centrifugo');
    this.nodeName = options.nodeName;
  }

  async run(handler: ControlHandler): Promise<void> {
    this.handler = handler;
    await this.shard.subscribe([this.keys.control(), this.keys.controlOf(this.nodeName)], (_ch, msg) => {
      // The payload outlives the call: copy it out of the client's read buffer.
      this.handler?.onControl(new Uint8Array(msg));
    });
  }

  async publishControl(data: Uint8Array, toNode?: string): Promise<void> {
    const channel = toNode === undefined ? this.keys.control() : this.keys.controlOf(toNode);
    await this.shard.client.publish(channel, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    if (this.shard.shared) {
      await this.shard.unsubscribe([this.keys.control(), this.keys.controlOf(this.nodeName)]).catch(() => {});
    }
    await this.shard.release();
  }
}
