import { randomUUID } from 'node:crypto';
import type { ControlHandler, Controller } from '../controller.js';

/**
 * An in-process bus joining `MemoryController`s: the cluster of nodes living in one process
 * (tests, embedding several nodes). Delivery is asynchronous (a microtask later) so a publisher
 * never re-enters its own call stack, and in order per sender.
 */
export class MemoryControlBus {
  private readonly members = new Map<string, ControlHandler>();

  /** Adds a member under `id` (its node uid). */
  join(id: string, handler: ControlHandler): void {
    this.members.set(id, handler);
  }

  leave(nodeId: string): void {
    this.members.delete(nodeId);
  }

  send(data: Uint8Array, toNode?: string): void {
    const targets =
      toNode === undefined
        ? [...this.members.values()]
        : [this.members.get(toNode)].filter((h) => h !== undefined);
    if (targets.length === 0) return;
    queueMicrotask(() => {
      for (const h of targets) h.onControl(data);
    });
  }
}

/**
 * Controller for nodes in one process. Without a bus, the node is alone (a single-node server);
 * nodes given the same bus see each other as a cluster.
 */
export class MemoryController implements Controller {
  private readonly bus: MemoryControlBus;
  private nodeId: string | undefined;
  private closed = false;

  constructor(bus: MemoryControlBus = new MemoryControlBus()) {
    this.bus = bus;
  }

  async run(handler: ControlHandler): Promise<void> {
    this.nodeId = handler.nodeId ?? randomUUID();
    this.bus.join(this.nodeId, handler);
  }

  async publishControl(data: Uint8Array, toNode?: string): Promise<void> {
    if (!this.closed) this.bus.send(data, toNode);
  }

  /** Leaves the bus: nothing is sent or received any more. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.nodeId !== undefined) this.bus.leave(this.nodeId);
  }
}
