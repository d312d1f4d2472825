import { Agent, request } from 'node:http';
import type { RunningTarget } from '../lib/servers.js';
import { Histogram, nowUs } from '../lib/stats.js';

export interface PublishRun {
  /** Publications acknowledged with HTTP 200 and no API error. */
  ok: number;
  failed: number;
  /** Ticks where the in-flight cap stopped us from keeping the rate. */
  skipped: number;
  /** Per channel: acknowledged publications. */
  perChannel: Map<string, number>;
  elapsedMs: number;
}

/**
 * Publishes through the target's HTTP API (`POST /api/publish`, `X-API-Key`) at a fixed rate
 * for a duration. Data is `{"t":<send time µs>,"s":<seq>,"p":<padding>}` so receivers can
 * compute latency. A keep-alive agent with a bounded number of sockets and an in-flight cap
 * keeps the publisher from becoming the bottleneck silently: unmet rate shows up in `skipped`.
 */
export async function publishAtRate(
  target: RunningTarget,
  pickChannel: (seq: number) => string,
  ratePerSec: number,
  durationMs: number,
  payloadBytes: number,
): Promise<PublishRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  const body = publishBody(payloadBytes);
  const run: PublishRun = { ok: 0, failed: 0, skipped: 0, perChannel: new Map(), elapsedMs: 0 };
  const maxInFlight = 256;
  let inFlight = 0;
  let seq = 0;
  const started = performance.now();
  await new Promise<void>((done) => {
    const tick = (): void => {
      const elapsed = performance.now() - started;
      const due = Math.min(
        Math.floor((elapsed / 1000) * ratePerSec) + 1,
        Math.ceil((durationMs / 1000) * ratePerSec),
      );
      while (seq < due) {
        if (inFlight >= maxInFlight) {
          run.skipped += due - seq;
          seq = due;
          break;
        }
        const channel = pickChannel(seq);
        const json = body(channel, seq);
        seq++;
        inFlight++;
        post(target, agent, json, (ok) => {
          if (inFlight === 0) return; // given up on (see waitDrain)
          inFlight--;
          if (ok) {
            run.ok++;
            run.perChannel.set(channel, (run.perChannel.get(channel) ?? 0) + 1);
          } else run.failed++;
        });
      }
      if (elapsed >= durationMs) {
        // A saturated server answers slowly; stop waiting after 5 s and count the rest as failed.
        const deadline = performance.now() + 5000;
        const waitDrain = (): void => {
          if (inFlight === 0 || performance.now() > deadline) {
            run.failed += inFlight;
            inFlight = 0;
            run.elapsedMs = performance.now() - started;
            agent.destroy();
            done();
          } else setTimeout(waitDrain, 5);
        };
        waitDrain();
      } else setTimeout(tick, 2);
    };
    tick();
  });
  return run;
}

export interface ClosedLoopRun {
  ok: number;
  failed: number;
  elapsedMs: number;
  /** Request latency: request written to response read. */
  latency: Histogram;
}

/**
 * Publishes through the HTTP API as fast as the server answers: `connections` keep-alive
 * connections, each sending its next `POST /api/publish` as soon as the previous one is answered,
 * for `durationMs`. Measures the API's own path (no subscriber on `channel`, so no fan-out).
 */
export async function publishClosedLoop(
  target: RunningTarget,
  channel: string,
  connections: number,
  durationMs: number,
  payloadBytes: number,
): Promise<ClosedLoopRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = publishBody(payloadBytes);
  const run: ClosedLoopRun = { ok: 0, failed: 0, elapsedMs: 0, latency: new Histogram() };
  const started = performance.now();
  const end = started + durationMs;
  let seq = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const json = body(channel, seq++);
      const t0 = nowUs();
      const ok = await new Promise<boolean>((done) => post(target, agent, json, done));
      run.latency.record(nowUs() - t0);
      if (ok) run.ok++;
      else run.failed++;
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  run.elapsedMs = performance.now() - started;
  agent.destroy();
  return run;
}

/**
 * Builds publish request bodies of about `payloadBytes` of data: `{"t":<send time µs>,"s":<seq>,
 * "p":<padding>}`, the send time taken when the body is built.
 */
function publishBody(payloadBytes: number): (channel: string, seq: number) => string {
  const pad = 'x'.repeat(Math.max(0, payloadBytes - 40));
  return (channel, seq) =>
    `{"channel":${JSON.stringify(channel)},"data":{"t":${nowUs()},"s":${seq},"p":"${pad}"}}`;
}

function post(target: RunningTarget, agent: Agent, body: string, cb: (ok: boolean) => void): void {
  const req = request(
    target.publishUrl,
    {
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        'x-api-key': target.apiKey,
        'content-length': Buffer.byteLength(body),
      },
    },
    (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        cb(res.statusCode === 200 && !Buffer.concat(chunks).toString().includes('"error"')),
      );
    },
  );
  req.on('error', () => cb(false));
  req.end(body);
}
