import type { Client } from '../../src/core/client.js';
import type { Node } from '../../src/core/node.js';
import type { ConnectionMeta, Transport } from '../../src/core/transport.js';
import type { Disconnect } from '../../src/protocol/codes.js';
import type { ProtocolType } from '../../src/protocol/types.js';

/** A decoded JSON message as a test sees it (bytes fields are parsed JSON values). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = Record<string, any>;

export interface FakeTransportOptions {
  name?: string;
  unidirectional?: boolean;
  emulation?: boolean;
  protocolPing?: boolean;
}

/**
 * A JSON Transport for core tests: records every `write` call (frames), the decoded messages and
 * the close code, and lets a test feed commands to the client.
 */
export class FakeTransport implements Transport {
  readonly name: string;
  readonly protocol: ProtocolType = 'json';
  readonly unidirectional: boolean;
  readonly emulation: boolean;
  readonly protocolPing: boolean;
  /** Each `write` call: the raw messages it received. */
  readonly frames: (readonly Uint8Array[])[] = [];
  /** Every written message, decoded. */
  readonly messages: Msg[] = [];
  closed: Disconnect | undefined;
  client!: Client;
  /** Absent unless a test sets them (transports that cannot pause reading have neither). */
  pauseReading?: () => void;
  resumeReading?: () => void;

  constructor(options: FakeTransportOptions = {}) {
    this.name = options.name ?? 'websocket';
    this.unidirectional = options.unidirectional ?? false;
    this.emulation = options.emulation ?? false;
    this.protocolPing = options.protocolPing ?? true;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.closed) throw new Error('write after close');
    this.frames.push(messages);
    for (const m of messages) this.messages.push(JSON.parse(Buffer.from(m).toString('utf8')) as Msg);
  }

  close(d: Disconnect): void {
    this.closed ??= { code: d.code, reason: d.reason };
  }

  /** Sends one or more commands (objects are JSON-encoded; strings are sent as is) in one frame. */
  send(...commands: (Msg | string)[]): void {
    const text = commands.map((c) => (typeof c === 'string' ? c : JSON.stringify(c))).join('\n');
    this.client.handleData(Buffer.from(text, 'utf8'));
  }

  /** Replies with this id. */
  reply(id: number): Msg | undefined {
    return this.messages.find((m) => m.id === id);
  }

  /** Pushes (`push` field of replies, or bare pushes on unidirectional transports). */
  pushes(): Msg[] {
    if (this.unidirectional) return this.messages;
    return this.messages.filter((m) => m.push !== undefined).map((m) => m.push as Msg);
  }
}

/** Opens a fake connection on a node. */
export function connectFake(
  node: Node,
  options: FakeTransportOptions = {},
  meta: ConnectionMeta = { headers: {} },
): FakeTransport {
  const t = new FakeTransport(options);
  t.client = node.handleTransport(t, meta);
  return t;
}

/** Polls `cond` until it holds (default 2 s). */
export async function waitFor(cond: () => boolean, timeoutMs = 2000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
