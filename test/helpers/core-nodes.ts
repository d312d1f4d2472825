import { afterEach } from 'node:test';
import type { NodeHandlers } from '../../src/core/handlers.js';
import { Node, type NodeOptions } from '../../src/core/node.js';
import { connectFake, waitFor, type FakeTransport, type FakeTransportOptions } from './fake-transport.js';

const nodes: Node[] = [];

/**
 * A running core Node with a fast timer wheel; every node started in a test file is shut down
 * after each test (the `afterEach` hook registers when this module is imported).
 */
export async function started(handlers: NodeHandlers, opts: NodeOptions = {}): Promise<Node> {
  const node = new Node({ handlers, timerResolution: 10, ...opts });
  nodes.push(node);
  await node.run();
  return node;
}

/** A fake connection that sent `connect` and got its reply (or was closed instead). */
export async function connected(node: Node, opts: FakeTransportOptions = {}): Promise<FakeTransport> {
  const t = connectFake(node, opts);
  t.send({ id: 1, connect: {} });
  await waitFor(() => t.reply(1) !== undefined || t.closed !== undefined, 2000, 'connect reply');
  return t;
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});
