import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport } from '../../core/transport.js';
import type { Disconnect } from '../../protocol/codes.js';
import type { ProtocolType } from '../../protocol/types.js';
import { answer, setStreamHeaders } from './http.js';

/** What a first write may turn into: other messages, or a plain HTTP answer instead of a stream. */
export type FirstWriteResult = readonly Uint8Array[] | { status: number; body: string };

export interface ResponseTransportOptions {
  name: string;
  protocol: ProtocolType;
  unidirectional: boolean;
  emulation: boolean;
  /** Turns the messages of one flush into the bytes of one chunk. */
  frame(messages: readonly Uint8Array[]): Uint8Array;
  /** Extra response headers (e.g. `Content-Type`). */
  headers?: Record<string, string>;
  /**
   * Bytes the response may hold unsent (the peer reads too slowly) before the connection is
   * dropped; 0 = no limit.
   */
  maxBuffered?: number;
  /** Written right after the headers (SSE: `\r\n`). */
  preamble?: string;
  /**
   * Called with the first flush when the headers were not sent yet (`start()` not called): lets
   * unidirectional transports turn a connect failure into other messages or an HTTP status.
   */
  firstWrite?(messages: readonly Uint8Array[]): FirstWriteResult;
}

/**
 * A core `Transport` over one streamed HTTP response (HTTP-streaming, SSE and their
 * unidirectional variants). Each writer flush becomes one chunk; `close` ends the response.
 *
 * Headers (200 + the no-cache stream headers) go out on `start()`, or with the first write when
 * `start()` was never called (unidirectional transports wait for the connect outcome).
 */
export class ResponseTransport implements Transport {
  readonly name: string;
  readonly protocol: ProtocolType;
  readonly unidirectional: boolean;
  readonly emulation: boolean;
  readonly protocolPing = true;
  private started = false;
  private ended = false;
  /** Set while core holds the session's reading back (too many commands waiting). */
  private paused = false;
  private resumeWaiters: (() => void)[] = [];

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly options: ResponseTransportOptions,
  ) {
    this.name = options.name;
    this.protocol = options.protocol;
    this.unidirectional = options.unidirectional;
    this.emulation = options.emulation;
    res.on('error', () => {
      this.ended = true;
    });
    res.on('close', () => this.releaseWaiters());
  }

  /** True once the response ended or its connection went away. */
  get isEnded(): boolean {
    return this.ended || this.res.destroyed || this.res.writableEnded;
  }

  /** Sends the 200 headers (and preamble) now. */
  start(): void {
    if (this.started || this.isEnded) return;
    this.started = true;
    setStreamHeaders(this.req, this.res);
    this.res.writeHead(200, this.options.headers);
    if (this.options.preamble !== undefined) this.res.write(this.options.preamble);
    else this.res.flushHeaders();
  }

  /**
   * Emulation sessions read their commands from `/emulation` requests, not from this response:
   * pausing makes those requests wait (`readingResumed`) instead of handing over more commands.
   */
  pauseReading(): void {
    this.paused = true;
  }

  resumeReading(): void {
    this.paused = false;
    this.releaseWaiters();
  }

  /** Resolves at once unless reading is paused; then when it resumes or the session ends. */
  readingResumed(): Promise<void> {
    if (!this.paused || this.isEnded) return Promise.resolve();
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  private releaseWaiters(): void {
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w();
  }

  bufferedAmount(): number {
    return this.res.writableLength;
  }

  write(messages: readonly Uint8Array[]): void {
    if (this.isEnded) return;
    if (!this.started && this.options.firstWrite !== undefined) {
      const r = this.options.firstWrite(messages);
      if ('status' in r) {
        this.ended = true;
        answer(this.res, r.status, r.body);
        return;
      }
      messages = r;
    }
    this.start();
    if (messages.length === 0) return;
    this.res.write(this.options.frame(messages));
    const max = this.options.maxBuffered ?? 0;
    if (max > 0 && this.res.writableLength > max) {
      // A reader this slow would make the buffer grow without bound: drop it (core sees a close).
      this.ended = true;
      this.res.destroy();
    }
  }

  close(_disconnect: Disconnect): void {
    if (this.isEnded) return;
    this.start();
    this.ended = true;
    this.res.end();
    this.releaseWaiters();
  }
}
