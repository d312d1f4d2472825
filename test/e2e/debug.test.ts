/**
 * `debug.enabled` as a user meets it: `gyre serve` serves a V8 CPU profile and a heap snapshot of
 * itself under `/debug/pprof` (Centrifugo's pprof endpoints), on the internal port when one is
 * set, one CPU profile at a time, with clear errors for bad input, and keeps serving the API.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startGyre } from '../helpers/gyre.js';
import { API_KEY, standardConfig } from '../helpers/e2e-config.js';

interface CpuProfile {
  nodes: { callFrame: { functionName: string; url: string } }[];
  startTime: number;
  endTime: number;
  samples: number[];
}

void describe('debug endpoints', { concurrency: 3 }, () => {
  void test('off by default', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig() });
    const res = await fetch(`${gyre.url}/debug/pprof/profile?seconds=1`);
    await res.text();
    assert.equal(res.status, 404);
  });

  void test('a CPU profile of the running server, one at a time, and a heap snapshot', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ debug: { enabled: true } }) });
    const index = await fetch(`${gyre.url}/debug/pprof`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /href="\/debug\/pprof\/profile\?seconds=30"/);

    // While a 2 s profile runs, API requests are served and a second profile is refused.
    const profiling = fetch(`${gyre.url}/debug/pprof/profile?seconds=2`);
    await new Promise((r) => setTimeout(r, 300));
    const busy = await fetch(`${gyre.url}/debug/pprof/profile?seconds=1`);
    assert.equal(busy.status, 409);
    assert.match(await busy.text(), /already/);
    // API requests one after the other until the profile is back: the server is busy with them
    // for the whole profile, so its samples cannot miss them.
    let done = false;
    void profiling.then(() => (done = true));
    let requests = 0;
    while (!done) {
      const res = await fetch(`${gyre.url}/api/info`, {
        method: 'POST',
        headers: { 'X-API-Key': API_KEY },
        body: '{}',
      });
      assert.equal(res.status, 200);
      await res.text();
      requests++;
    }
    assert.ok(requests > 20, `${requests} API requests served meanwhile`);
    const res = await profiling;
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-disposition') ?? '', /gyre\.cpuprofile/);
    const profile = (await res.json()) as CpuProfile;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    assert.ok(seconds >= 1.9 && seconds < 5, `profile spans ${seconds} s`);
    assert.ok(profile.samples.length > 0);
    // The API requests made meanwhile are in it.
    assert.ok(profile.nodes.some((n) => n.callFrame.url.includes('/server/api/')));
    // Once done, the next profile may start.
    const again = await fetch(`${gyre.url}/debug/pprof/profile?seconds=1`);
    assert.equal(again.status, 200);
    await again.arrayBuffer();

    const heap = await fetch(`${gyre.url}/debug/pprof/heap`);
    assert.equal(heap.status, 200);
    const snapshot = (await heap.json()) as {
      snapshot: { meta: { node_fields: string[] } };
      strings: string[];
    };
    assert.ok(snapshot.snapshot.meta.node_fields.includes('name'));
    assert.ok(snapshot.strings.length > 1000);
  });

  void test('bad seconds, other methods and the internal port', async (t) => {
    const internalPort = await freePort();
    const gyre = await startGyre(t, {
      config: standardConfig({
        debug: { enabled: true },
        http_server: { internal_port: String(internalPort), internal_address: '127.0.0.1' },
      }),
    });
    const internal = `http://127.0.0.1:${internalPort}/debug/pprof`;
    for (const s of ['0', '601', '1.5', 'abc']) {
      const res = await fetch(`${internal}/profile?seconds=${s}`);
      assert.equal(res.status, 400, s);
      assert.match(await res.text(), /seconds must be a whole number from 1 to 600/);
    }
    const post = await fetch(`${internal}/heap`, { method: 'POST' });
    await post.text();
    assert.equal(post.status, 405);
    const external = await fetch(`${gyre.url}/debug/pprof/`);
    await external.text();
    assert.equal(external.status, 404);
  });
});
