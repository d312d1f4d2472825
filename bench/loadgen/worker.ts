/**
 * Load generator worker thread: holds a slice of the connections, speaks the target's wire
 * protocol directly over `ws` (Gyre JSON/Protobuf, plain ws text, Engine.IO v4 / Socket.IO packets),
 * answers pings, and records delivery latency from the send timestamp embedded in each publication.
 */
import { parentPort } from 'node:worker_threads';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { RawWsClient } from './raw-client.js';
import { decodeReply, encodeCommands, splitDelimited } from '../../src/protocol/index.js';
import { Histogram, nowUs } from '../lib/stats.js';
import { channelsOf, type FromWorker, type InitMsg, type ToWorker, type WorkerStats } from './messages.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');

let init: InitMsg;
let tokens: string[] = [];
/** What the worker uses of a client socket: `ws`'s client or the lighter `RawWsClient`. */
type Client = WebSocket | RawWsClient;
const sockets: Client[] = [];
let hist = new Histogram();
let delivered = 0;
let pingsAnswered = 0;
let closed = 0;
let closing = false;

const PROTO_PING_REPLY = Buffer.from([0]);

function send(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port!.postMessage(msg, transfer ?? []);
}

function stats(h: Histogram): WorkerStats {
  return {
    delivered,
    pingsAnswered,
    closed,
    counts: h.counts,
    count: h.count,
    sumUs: h.sumUs,
    maxUs: h.maxUs,
  };
}

/**
 * Records one delivered publication whose bytes are [from, to) of `buf`: its first `"t":<µs>` is
 * the send time (the bench payload is `{"t":<µs>,"s":<seq>,"p":...}`). The message is scanned as
 * bytes, without decoding it to a string or parsing JSON, and read against one clock reading per
 * frame: the load generator has one core for up to ~1.8M deliveries/s, and every target is measured
 * through this same receive path.
 */
function recordPublication(buf: Buffer, from: number, to: number, now: number): void {
  delivered++;
  let i = valueAfterT(buf, from, to);
  if (i < 0) return;
  let t = 0;
  for (; i < to; i++) {
    const c = (buf[i] as number) - 48;
    if (c < 0 || c > 9) break;
    t = t * 10 + c;
  }
  hist.record(now - t);
}

/**
 * Index just past the first `"t":` in bytes [from, to) of `buf`, or -1. A plain loop that looks
 * at the neighbours only of a `t`: about 4x cheaper than comparing four bytes at every position,
 * and 2x cheaper than `Buffer.indexOf` with a multi-byte needle (`bench/micro/frame-scan.ts`).
 */
function valueAfterT(buf: Buffer, from: number, to: number): number {
  for (let i = from + 1; i < to - 2; i++) {
    if (buf[i] !== 0x74) continue;
    if (buf[i + 1] === 0x22 && buf[i + 2] === 0x3a && buf[i - 1] === 0x22) return i + 3;
  }
  return -1;
}

/** Index of the first `\n` at or after `from`, or `buf.length` (native `memchr`, unlike a loop). */
function lineEnd(buf: Buffer, from: number): number {
  const nl = buf.indexOf(NEWLINE, from);
  return nl < 0 ? buf.length : nl;
}

const PUSH_PREFIX = Buffer.from('{"push":');
const NEWLINE = 0x0a;
const SIO_PUB = Buffer.from('42["pub",');

/** Records one publication from its data bytes (Protobuf pushes). */
function onPublication(data: Uint8Array): void {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  recordPublication(buf, 0, buf.length, nowUs());
}

/** True when bytes [from, to) of `buf` are `{}` (a Gyre JSON ping). */
function isEmptyObject(buf: Buffer, from: number, to: number): boolean {
  return to - from === 2 && buf[from] === 0x7b && buf[from + 1] === 0x7d;
}

function startsWithAt(buf: Buffer, from: number, prefix: Buffer): boolean {
  const n = prefix.length;
  if (buf.length - from < n) return false;
  for (let k = 0; k < n; k++) if (buf[from + k] !== prefix[k]) return false;
  return true;
}

async function signTokens(): Promise<void> {
  if (init.target !== 'gyre') return;
  const key = new TextEncoder().encode(init.hmacSecret);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const out: string[] = [];
  for (let i = init.start; i < init.end; i++) {
    out.push(
      await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(`u${i}`)
        .setExpirationTime(exp)
        .sign(key),
    );
  }
  tokens = out;
}

function urlFor(i: number): string {
  const chans = channelsOf(init.layout, i);
  const q = `channels=${encodeURIComponent(chans.join(','))}`;
  if (init.target === 'gyre')
    return init.protocol === 'protobuf' ? `${init.wsUrl}?cf_protocol=protobuf` : init.wsUrl;
  if (init.target === 'socketio') return `${init.wsUrl}socket.io/?EIO=4&transport=websocket&${q}`;
  return `${init.wsUrl}?${q}`;
}

/**
 * permessage-deflate offer of the load generator's clients (to measure `websocket.compression`):
 * env BENCH_WS_DEFLATE=1 offers it (ws compresses the client's own messages from 1024 bytes),
 * `all` also compresses every client message, as browsers do.
 */
function deflateOption(): boolean | { threshold: number } {
  const v = process.env.BENCH_WS_DEFLATE;
  return v === 'all' ? { threshold: 0 } : v === '1';
}

/**
 * A client socket for `url`. The load generator's own `RawWsClient` unless permessage-deflate is
 * asked for (`BENCH_WS_DEFLATE`) or `BENCH_CLIENT=ws` forces `ws` (then without UTF-8 validation:
 * frames are scanned as bytes, and validation would cost the load generator's core per byte).
 */
function client(url: string): Client {
  const deflate = deflateOption();
  if (deflate === false && process.env.BENCH_CLIENT !== 'ws') return new RawWsClient(url);
  return new WebSocket(url, { perMessageDeflate: deflate, skipUTF8Validation: true });
}

/** Open connection i; resolves when subscribed, rejects on error/timeout. */
function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = client(urlFor(i));
    const chans = channelsOf(init.layout, i);
    let ready = false;
    let pendingSubs = chans.length;
    const timer = setTimeout(() => fail(new Error('connect timeout')), 30_000);
    const fail = (err: Error): void => {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      ws.terminate();
      reject(err);
    };
    const becomeReady = (): void => {
      ready = true;
      clearTimeout(timer);
      sockets.push(ws);
      resolve();
    };
    ws.on('error', (err) => fail(err));
    ws.on('close', () => {
      if (!ready) fail(new Error('closed before ready'));
      else if (!closing) closed++;
    });
    const token = tokens[i - init.start] ?? '';
    const { target, protocol } = init;

    if (target === 'gyre' && protocol === 'json') {
      ws.on('open', () => ws.send(JSON.stringify({ id: 1, connect: { token } })));
      ws.on('message', (data: Buffer) => {
        const now = nowUs();
        let from = 0;
        while (from < data.length) {
          const nl = lineEnd(data, from);
          const start = from;
          from = nl + 1;
          if (nl === start) continue;
          if (isEmptyObject(data, start, nl)) {
            ws.send('{}');
            pingsAnswered++;
            continue;
          }
          if (ready && startsWithAt(data, start, PUSH_PREFIX)) {
            recordPublication(data, start, nl, now);
            continue;
          }
          const reply = JSON.parse(data.toString('utf8', start, nl)) as {
            id?: number;
            error?: { code: number; message: string };
            push?: { pub?: unknown };
          };
          if (reply.push?.pub) recordPublication(data, start, nl, now);
          else if (reply.error) fail(new Error(`error ${reply.error.code} ${reply.error.message}`));
          else if (reply.id === 1) {
            ws.send(
              chans.map((channel, k) => JSON.stringify({ id: 2 + k, subscribe: { channel } })).join('\n'),
            );
          } else if (reply.id !== undefined && reply.id >= 2 && --pendingSubs === 0) becomeReady();
        }
      });
    } else if (target === 'gyre') {
      ws.on('open', () => ws.send(encodeCommands([{ id: 1, connect: { token } }])));
      ws.on('message', (data: Buffer) => {
        for (const msg of splitDelimited(data)) {
          if (msg.length === 0) {
            ws.send(PROTO_PING_REPLY);
            pingsAnswered++;
            continue;
          }
          const reply = decodeReply(msg);
          const pub = reply.push?.pub;
          if (pub) onPublication(pub.data);
          else if (reply.error) fail(new Error(`error ${reply.error.code} ${reply.error.message}`));
          else if (reply.id === 1) {
            ws.send(encodeCommands(chans.map((channel, k) => ({ id: 2 + k, subscribe: { channel } }))));
          } else if (reply.id !== undefined && reply.id >= 2 && --pendingSubs === 0) becomeReady();
        }
      });
    } else if (target === 'ws') {
      ws.on('message', (data: Buffer) => {
        if (ready) recordPublication(data, 0, data.length, nowUs());
        else if (data.toString('utf8') === 'ok') becomeReady();
      });
    } else {
      // Engine.IO v4 over WebSocket: '0' open, '2' ping -> '3' pong, '4' + Socket.IO packet.
      ws.on('message', (data: Buffer) => {
        const c0 = data[0];
        if (c0 === 0x34 /* '4' */ && ready && startsWithAt(data, 0, SIO_PUB)) {
          recordPublication(data, SIO_PUB.length, data.length, nowUs());
          return;
        }
        const text = data.toString('utf8');
        if (c0 === 0x32 /* '2' */) {
          ws.send('3');
          pingsAnswered++;
        } else if (c0 === 0x30 /* '0' */) ws.send('40');
        else if (text.startsWith('42')) {
          if (text === '42["ready"]') becomeReady();
        } else if (text.startsWith('44')) fail(new Error(`socket.io connect error ${text}`));
      });
    }
  });
}

async function connectAll(concurrency: number): Promise<void> {
  const connectHist = new Histogram();
  let next = init.start;
  let ready = 0;
  let failed = 0;
  let firstError = '';
  const runOne = async (): Promise<void> => {
    while (next < init.end) {
      const i = next++;
      const t0 = nowUs();
      try {
        await open(i);
        connectHist.record(nowUs() - t0);
        ready++;
      } catch (err) {
        failed++;
        if (!firstError) firstError = err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, runOne));
  const s = stats(connectHist);
  send({ type: 'connected', ready, failed, firstError, connect: s }, [s.counts.buffer as ArrayBuffer]);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'init':
      init = msg;
      void signTokens().then(() => send({ type: 'ready' }));
      break;
    case 'connect':
      void connectAll(msg.concurrency);
      break;
    case 'reset':
      hist = new Histogram();
      delivered = 0;
      pingsAnswered = 0;
      closed = 0;
      break;
    case 'collect': {
      const s = stats(hist);
      hist = new Histogram();
      send({ type: 'stats', ...s }, [s.counts.buffer as ArrayBuffer]);
      break;
    }
    case 'count':
      send({ type: 'count', delivered, pingsAnswered, closed });
      break;
    case 'close': {
      closing = true;
      let left = sockets.length;
      if (left === 0) send({ type: 'closed' });
      for (const ws of sockets.splice(0)) {
        ws.once('close', () => {
          if (--left === 0) send({ type: 'closed' });
        });
        ws.terminate();
      }
      break;
    }
  }
});
