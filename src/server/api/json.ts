/**
 * JSON decoding with the semantics of Go's `encoding/json` decoding into the API request structs:
 * field names match case-insensitively (the last duplicate wins), unknown fields are ignored, a
 * value of the wrong type is an error, `null` leaves a field at its zero value, and raw-JSON fields
 * (`data`, `info`, `params`) keep the exact bytes of the request.
 */

/** The request body (or a part of it) is not what the method's request struct accepts. */
export class JsonTypeError extends Error {}

// Character codes used by the scanner.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COMMA = 0x2c;
const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;

function isWs(c: number): boolean {
  return c === SPACE || c === LF || c === CR || c === TAB;
}

export function skipWs(s: string, i: number): number {
  while (i < s.length && isWs(s.charCodeAt(i))) i++;
  return i;
}

function skipString(s: string, i: number): number {
  i++;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c === BACKSLASH) i += 2;
    else if (c === QUOTE) return i + 1;
    else i++;
  }
  return s.length;
}

/** End (exclusive) of the JSON value starting at `i` (which must not be whitespace). */
export function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return skipString(s, i);
  if (c === LBRACE || c === LBRACKET) {
    let depth = 0;
    while (i < s.length) {
      const ch = s.charCodeAt(i);
      if (ch === QUOTE) {
        i = skipString(s, i);
        continue;
      }
      if (ch === LBRACE || ch === LBRACKET) depth++;
      else if (ch === RBRACE || ch === RBRACKET) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return s.length;
  }
  while (i < s.length) {
    const ch = s.charCodeAt(i);
    if (
      ch === COMMA ||
      ch === RBRACE ||
      ch === RBRACKET ||
      ch === LBRACE ||
      ch === LBRACKET ||
      ch === QUOTE ||
      isWs(ch)
    ) {
      break;
    }
    i++;
  }
  return i;
}

/**
 * A read-only view of one JSON object of already validated JSON text. Getters return the Go zero
 * value for absent or `null` fields and throw `JsonTypeError` on a type mismatch.
 */
export class JsonObject {
  private constructor(
    private readonly text: string,
    private readonly fields: Map<string, [number, number]>,
  ) {}

  /**
   * Views the JSON value `text.slice(start, end)` (valid JSON). Returns `null` for JSON `null`;
   * throws `JsonTypeError` when the value is not an object.
   */
  static at(text: string, start: number, end: number): JsonObject | null {
    start = skipWs(text, start);
    if (text.startsWith('null', start)) return null;
    if (text.charCodeAt(start) !== LBRACE) throw new JsonTypeError('object expected');
    const fields = new Map<string, [number, number]>();
    let i = skipWs(text, start + 1);
    if (text.charCodeAt(i) === RBRACE) return new JsonObject(text, fields);
    while (i < end) {
      const keyEnd = skipString(text, i);
      const rawKey = text.slice(i + 1, keyEnd - 1);
      const key = rawKey.includes('\\') ? (JSON.parse(text.slice(i, keyEnd)) as string) : rawKey;
      i = skipWs(text, keyEnd);
      i = skipWs(text, i + 1); // ':'
      const vEnd = skipValue(text, i);
      fields.set(key.toLowerCase(), [i, vEnd]);
      i = skipWs(text, vEnd);
      if (text.charCodeAt(i) !== COMMA) break;
      i = skipWs(text, i + 1);
    }
    return new JsonObject(text, fields);
  }

  /** Parses and views a whole document. Throws `SyntaxError` on invalid JSON. */
  static parse(text: string): JsonObject | null {
    JSON.parse(text);
    return JsonObject.at(text, 0, text.length);
  }

  private span(name: string): [number, number] | undefined {
    const sp = this.fields.get(name);
    if (sp === undefined) return undefined;
    if (this.text.startsWith('null', sp[0]) && sp[1] - sp[0] === 4) return undefined;
    return sp;
  }

  private value(name: string): unknown {
    const sp = this.span(name);
    return sp === undefined ? undefined : JSON.parse(this.text.slice(sp[0], sp[1]));
  }

  /** True when the field is present (even as `null`). */
  has(name: string): boolean {
    return this.fields.has(name);
  }

  /** True when the field is present and not `null`. */
  present(name: string): boolean {
    return this.span(name) !== undefined;
  }

  /** Field names present, lower-cased, in order of first appearance. */
  keys(): string[] {
    return [...this.fields.keys()];
  }

  str(name: string): string {
    const v = this.value(name);
    if (v === undefined) return '';
    if (typeof v !== 'string') throw new JsonTypeError(`${name}: string expected`);
    return v;
  }

  bool(name: string): boolean {
    const v = this.value(name);
    if (v === undefined) return false;
    if (typeof v !== 'boolean') throw new JsonTypeError(`${name}: bool expected`);
    return v;
  }

  /** An integer in [min, max] (Go int32/int64/uint32/uint64 fields). */
  int(name: string, min: number, max: number): number {
    const v = this.value(name);
    if (v === undefined) return 0;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new JsonTypeError(`${name}: integer expected`);
    }
    return v;
  }

  uint(name: string): number {
    return this.int(name, 0, Number.MAX_SAFE_INTEGER);
  }

  /** Raw JSON bytes of the field exactly as sent; undefined when absent. (`null` is kept as `null`.) */
  raw(name: string): Uint8Array | undefined {
    const sp = this.fields.get(name);
    if (sp === undefined) return undefined;
    return Buffer.from(this.text.slice(sp[0], sp[1]), 'utf8');
  }

  obj(name: string): JsonObject | undefined {
    const sp = this.span(name);
    if (sp === undefined) return undefined;
    const o = JsonObject.at(this.text, sp[0], sp[1]);
    if (o === null) return undefined;
    return o;
  }

  strArray(name: string): string[] {
    const v = this.value(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new JsonTypeError(`${name}: array expected`);
    return v.map((x) => {
      if (x === null) return '';
      if (typeof x !== 'string') throw new JsonTypeError(`${name}: string expected`);
      return x;
    });
  }

  strMap(name: string): Record<string, string> | undefined {
    const v = this.value(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v) || v === null)
      throw new JsonTypeError(`${name}: object expected`);
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === null) out[k] = '';
      else if (typeof x === 'string') out[k] = x;
      else throw new JsonTypeError(`${name}: string values expected`);
    }
    return out;
  }

  /** Elements of an array field, each viewed as an object (`null` elements stay `null`). */
  objArray(name: string): (JsonObject | null)[] {
    const sp = this.span(name);
    if (sp === undefined) return [];
    let i = skipWs(this.text, sp[0]);
    if (this.text.charCodeAt(i) !== LBRACKET) throw new JsonTypeError(`${name}: array expected`);
    const out: (JsonObject | null)[] = [];
    i = skipWs(this.text, i + 1);
    if (this.text.charCodeAt(i) === RBRACKET) return out;
    while (i < sp[1]) {
      const vEnd = skipValue(this.text, i);
      out.push(JsonObject.at(this.text, i, vEnd));
      i = skipWs(this.text, vEnd);
      if (this.text.charCodeAt(i) !== COMMA) break;
      i = skipWs(this.text, i + 1);
    }
    return out;
  }
}

/**
 * Serialises an API response. `Uint8Array` values are raw JSON embedded as is (the `data` / `info`
 * payloads); `undefined` properties are omitted.
 */
export function encodeJson(value: unknown): string {
  if (value instanceof Uint8Array) {
    return value.length === 0
      ? 'null'
      : Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8');
  }
  if (Array.isArray(value)) return `[${value.map((v) => encodeJson(v)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      parts.push(`${JSON.stringify(k)}:${encodeJson(v)}`);
    }
    return `{${parts.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
