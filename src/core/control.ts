/**
 * Node-to-node control envelope, version 1.
 *
 * Wire format: UTF-8 JSON of one `ControlMessage`, binary fields as `{"$b": base64}` (see
 * `json-bytes.ts`). Every message has `v` (1), `from` (sender node uid) and `type`; messages
 * addressed to one node also carry `to`. A node drops messages it cannot decode, of another
 * version, or sent by itself, and those whose `to` names another node (so a controller may
 * broadcast directed messages without harm).
 *
 * Types:
 * - `node`: heartbeat with the sender's figures (`NodeInfo`), every `nodeInfoInterval`.
 * - `leave`: the sender shuts down; drop it from the node list at once.
 * - `subscribe` / `unsubscribe` / `disconnect` / `refresh`: server API operations on a user's
 *   connections; each node applies them to its own connections.
 * - `survey` (`id`, `op`) and `survey_reply` (`to`, `id`, `result`): a request every node answers
 *   to the asker (ops: `channels`).
 * - `session` (`to`, `session`, `data`): client→server commands of an emulation session held by
 *   node `to`.
 */
import type { Disconnect } from '../protocol/codes.js';
import { decodeJsonBytes, encodeJsonBytes } from './json-bytes.js';
import type { NodeInfo, RefreshUserOptions, ServerSubscribeOptions, UserTarget } from './handlers.js';

export const CONTROL_VERSION = 1;

interface Base {
  v: typeof CONTROL_VERSION;
  from: string;
  to?: string;
}

export type ControlBody =
  | { type: 'node'; info: NodeInfo }
  | { type: 'leave' }
  | { type: 'subscribe'; target: UserTarget; channel: string; options: ServerSubscribeOptions }
  | { type: 'unsubscribe'; target: UserTarget; channel: string }
  | { type: 'disconnect'; target: UserTarget; disconnect: Disconnect; whitelist: string[] }
  | { type: 'refresh'; target: UserTarget; options: RefreshUserOptions }
  | { type: 'survey'; id: string; op: string }
  | { type: 'survey_reply'; id: string; result: unknown }
  | { type: 'session'; session: string; data: Uint8Array };

export type ControlMessage = Base & ControlBody;

const TYPES = new Set([
  'node',
  'leave',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'refresh',
  'survey',
  'survey_reply',
  'session',
]);

export function encodeControl(msg: ControlMessage): Uint8Array {
  return encodeJsonBytes(msg);
}

/** Decodes one envelope; `undefined` for anything not a well-formed version-1 message. */
export function decodeControl(data: Uint8Array): ControlMessage | undefined {
  let v: unknown;
  try {
    v = decodeJsonBytes(data);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const m = v as Partial<ControlMessage>;
  if (m.v !== CONTROL_VERSION || typeof m.from !== 'string' || typeof m.type !== 'string') return undefined;
  if (!TYPES.has(m.type)) return undefined;
  return m as ControlMessage;
}
