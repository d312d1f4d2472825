/**
 * JSON that carries binary fields: every `Uint8Array` (Buffers included) becomes
 * `{"$b": "<base64>"}` and comes back as a `Uint8Array` (a Buffer). Used by the control
 * envelope and by engines that put publications on the wire as JSON.
 */

const encoder = new TextEncoder();

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // `this[key]` is the value before `toJSON` (a Buffer would already be {type,data} here).
  const raw = this[key];
  if (raw instanceof Uint8Array)
    return { $b: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const b = (value as { $b?: unknown }).$b;
    if (typeof b === 'string' && Object.keys(value).length === 1) return Buffer.from(b, 'base64');
  }
  return value;
}

/** Encodes a value (with binary fields) to UTF-8 JSON bytes. */
export function encodeJsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, replacer));
}

/** Decodes bytes made by `encodeJsonBytes`; throws on invalid JSON. */
export function decodeJsonBytes(data: Uint8Array): unknown {
  return JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'), reviver);
}
