import { Agent, request } from 'node:http';
import type { RunningTarget } from './servers.js';
import { Histogram } from './stats.js';

/** A running API latency probe; `stop()` resolves with the latencies of its answered calls. */
export interface ApiProbe {
  stop(): Promise<{ latency: Histogram; failed: number }>;
}

/**
 * Publishes to `channel` through the target's HTTP API at `ratePerSec` (own keep-alive agent)
 * and records each call's round trip. Runs beside a measured window so the API latency under
 * that load is known without touching the window's delivery counts: the channel should have no
 * subscribers (a history namespace still makes every call go through the engine).
 */
export function startApiProbe(target: RunningTarget, channel: string, ratePerSec: number): ApiProbe {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const latency = new Histogram();
  let failed = 0;
  let inFlight = 0;
  const body = JSON.stringify({ channel, data: { probe: true } });
  const timer = setInterval(() => {
    if (inFlight >= 64) return;
    inFlight++;
    const t0 = performance.now();
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
        res.on('end', () => {
          inFlight--;
          if (res.statusCode === 200 && !Buffer.concat(chunks).toString().includes('"error"'))
            latency.record((performance.now() - t0) * 1000);
          else failed++;
        });
      },
    );
    req.on('error', () => {
      inFlight--;
      failed++;
    });
    req.end(body);
  }, 1000 / ratePerSec);
  return {
    async stop() {
      clearInterval(timer);
      const until = performance.now() + 3000;
      while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
      agent.destroy();
      return { latency, failed };
    },
  };
}
