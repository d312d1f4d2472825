const NEWLINE = 0x0a;
const SSE_PREFIX = Buffer.from('data: ');
const SSE_SUFFIX = Buffer.from('\n\n');

/** Each message followed by `\n`, as one buffer (HTTP-streaming JSON, uni HTTP-streaming). */
export function newlineTerminated(messages: readonly Uint8Array[]): Uint8Array {
  let total = messages.length;
  for (const m of messages) total += m.length;
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const m of messages) {
    out.set(m, pos);
    pos += m.length;
    out[pos++] = NEWLINE;
  }
  return out;
}

/**
 * One SSE event per message (`data: <json>\n\n`), as one buffer. The JSON codec never writes a raw
 * newline inside a message, so each message fits one `data:` line.
 */
export function sseEvents(messages: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const m of messages) total += SSE_PREFIX.length + m.length + SSE_SUFFIX.length;
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  for (const m of messages) {
    out.set(SSE_PREFIX, pos);
    pos += SSE_PREFIX.length;
    out.set(m, pos);
    pos += m.length;
    out.set(SSE_SUFFIX, pos);
    pos += SSE_SUFFIX.length;
  }
  return out;
}

/** True when `content-type` names Protobuf (`application/octet-stream`). */
export function isProtobufContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.toLowerCase().startsWith('application/octet-stream');
}
