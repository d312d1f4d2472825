/**
 * A raw WebSocket client for protocol-level tests: sends exact frames, records every frame
 * received (JSON lines split out), answers nothing by itself, and exposes the close code/reason.
 */
import WebSocket from 'ws';
import { waitFor } from './wait.js';
import type { Cleanup } from './gyre.js';

/** Options for {@link rawWs}. */
export interface RawWsOptions {
  /** Subprotocol(s) to offer, e.g. `centrifuge-protobuf`. */
  protocol?: string | string[];
  /** Origin header for the handshake. */
  origin?: string;
  headers?: Record<string, string>;
  /** Answer server pings (`{}`) with a pong (`{}`) automatically. Default false. */
  autoPong?: boolean;
}

/** A connected raw client. */
export interface RawWs {
  ws: WebSocket;
  /** Every frame received, as text (JSON) or Buffer (binary). */
  frames: (string | Buffer)[];
  /** Every JSON message received (frames split on `\n`, parsed). */
  messages: Record<string, unknown>[];
  send(data: string | Uint8Array): void;
  /** Sends one JSON command object as a text frame. */
  sendJson(obj: unknown): void;
  /** Resolves with the first JSON message matching `pred` (already received or future). */
  waitMessage(
    pred: (m: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves with the reply whose `id` equals `id`. */
  reply(id: number, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the socket is closed, with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  isClosed(): boolean;
  close(): void;
}

/** Failure of the WebSocket handshake (HTTP status of the refusal, or 0 on network error). */
export class HandshakeError extends Error {
  constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Opens a raw WebSocket to `url`; rejects with {@link HandshakeError} if the upgrade is refused. */
export async function rawWs(url: string, opts: RawWsOptions = {}, t?: Cleanup): Promise<RawWs> {
  const wsOpts: WebSocket.ClientOptions = {};
  if (opts.origin !== undefined) wsOpts.origin = opts.origin;
  if (opts.headers) wsOpts.headers = opts.headers;
  const ws =
    opts.protocol === undefined ? new WebSocket(url, wsOpts) : new WebSocket(url, opts.protocol, wsOpts);
  t?.after(() => ws.terminate());
  const frames: (string | Buffer)[] = [];
  const messages: Record<string, unknown>[] = [];
  let closeInfo: { code: number; reason: string } | undefined;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      closeInfo = { code, reason: reason.toString('utf8') };
      resolve(closeInfo);
    });
  });
  ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      frames.push(buf);
      return;
    }
    const text = buf.toString('utf8');
    frames.push(text);
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        msg = { __unparsable: line };
      }
      messages.push(msg);
      if (opts.autoPong && Object.keys(msg).length === 0 && ws.readyState === WebSocket.OPEN) ws.send('{}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      reject(new HandshakeError(res.statusCode ?? 0, `handshake refused with HTTP ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', (err) => reject(new HandshakeError(0, err.message)));
  });
  ws.on('error', () => {
    /* errors after open surface through `closed` */
  });

  const waitMessage = (pred: (m: Record<string, unknown>) => boolean, timeoutMs = 5000) =>
    waitFor(
      () => messages.find(pred),
      timeoutMs,
      `no matching message; received: ${JSON.stringify(messages)}`,
    );

  return {
    ws,
    frames,
    messages,
    send: (data) => ws.send(data),
    sendJson: (obj) => ws.send(JSON.stringify(obj)),
    waitMessage,
    reply: (id, timeoutMs) => waitMessage((m) => m['id'] === id, timeoutMs),
    closed,
    isClosed: () => closeInfo !== undefined,
    close: () => ws.close(),
  };
}

/** Encodes an unsigned varint (protobuf length prefix / field value). */
export function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Encodes a length-delimited protobuf field (`field` number, wire type 2). */
export function pbBytesField(field: number, bytes: Uint8Array | number[]): number[] {
  const arr = Array.from(bytes);
  return [...varint((field << 3) | 2), ...varint(arr.length), ...arr];
}

/** Encodes a protobuf `Command{id, connect:{token}}` with its varint length prefix. */
export function pbConnectFrame(id: number, token: string): Uint8Array {
  const connect = pbBytesField(1, Buffer.from(token, 'utf8'));
  const cmd = [...varint((1 << 3) | 0), ...varint(id), ...pbBytesField(4, connect)];
  return Uint8Array.from([...varint(cmd.length), ...cmd]);
}
