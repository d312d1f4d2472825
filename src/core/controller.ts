/** What a controller delivers control messages to: the running node. */
export interface ControlHandler {
  /**
   * Uid of the node this controller serves (`Node` always sets it); `publishControl(data,
   * toNode)` addresses nodes by it. Without it a controller receives broadcasts only.
   */
  readonly nodeId?: string;
  /** One control message (an envelope of `src/core/control.ts`), called in arrival order. */
  onControl(data: Uint8Array): void;
}

/**
 * Node-to-node control channel (node info, user disconnects and unsubscribes everywhere,
 * surveys).
 *
 * Contract: `publishControl` with no `toNode` reaches every running node, this one included; with
 * `toNode` (a node uid, `ControlHandler.nodeId` of the receiver) it reaches that node (a
 * controller may also broadcast it: the envelope names its receiver and others drop it). Delivery
 * is at most once and in order per sender. `run` is called once, before any `publishControl`.
 */
export interface Controller {
  run(handler: ControlHandler): Promise<void>;
  publishControl(data: Uint8Array, toNode?: string): Promise<void>;
  close(): Promise<void>;
}
