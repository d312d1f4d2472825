import { isUtf8 } from 'node:buffer';
import { createDelta } from 'fossil-delta';

/** The only delta type the protocol knows. */
export const FOSSIL = 'fossil';

/**
 * Fossil delta (the format of Fossil SCM, which the SDKs decode) turning `source` into `target`.
 * Uses the `fossil-delta` package; tested against the SDK's own decoder in fossil.test.ts.
 */
export function fossilDelta(source: Uint8Array, target: Uint8Array): Uint8Array {
  return createDelta(source, target);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The bytes of a JSON string literal holding `data` as text: what a JSON connection with a delta
 * subscription gets as `data` (the SDK JSON-parses the string, or applies it as a delta).
 * `data` must be valid UTF-8 (JSON payloads are).
 */
export function jsonStringBytes(data: Uint8Array): Uint8Array {
  return encoder.encode(JSON.stringify(decoder.decode(data)));
}

/** True when `bytes` survive the round trip through a JS string (valid UTF-8). */
export function isTextSafe(bytes: Uint8Array): boolean {
  return isUtf8(bytes);
}
