/**
 * What Gyre puts on a NATS subject for a channel: UTF-8 JSON, binary fields as `{"$b": base64}`.
 * `{"t":"p","p":<Publication>,"d":<useDelta>}` | `{"t":"j","i":<ClientInfo>}` |
 * `{"t":"l","i":<ClientInfo>}`.
 */
import { decodeJsonBytes, encodeJsonBytes } from '../../core/json-bytes.js';
import type { ClientInfo, Publication } from '../../protocol/types.js';

export type NatsEnvelope =
  { t: 'p'; p: Publication; d?: boolean } | { t: 'j'; i: ClientInfo } | { t: 'l'; i: ClientInfo };

export function encodeEnvelope(e: NatsEnvelope): Uint8Array {
  return encodeJsonBytes(e);
}

/** `undefined` for bytes that are not a Gyre envelope. */
export function decodeEnvelope(data: Uint8Array): NatsEnvelope | undefined {
  let v: unknown;
  try {
    v = decodeJsonBytes(data);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const e = v as Partial<NatsEnvelope> & { p?: unknown; i?: unknown };
  if (e.t === 'p' && e.p !== null && typeof e.p === 'object') return e as NatsEnvelope;
  if ((e.t === 'j' || e.t === 'l') && e.i !== null && typeof e.i === 'object') return e as NatsEnvelope;
  return undefined;
}
