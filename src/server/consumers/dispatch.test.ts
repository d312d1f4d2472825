import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig, validateConfig } from '../config/index.js';
import { BadMessageError, ConsumerDispatcher, publicationMeta, RetryableError } from './dispatch.js';
import { deliveryCount } from './nats-jetstream.js';
import { consumerConfig, RecordingApi, recordingLogger } from './test-fixtures.js';
import { backoffDelay } from '../../util/backoff.js';
import { Waker } from './timing.js';

function setup(): { api: RecordingApi; d: ConsumerDispatcher; logs: ReturnType<typeof recordingLogger> } {
  const api = new RecordingApi();
  const logs = recordingLogger();
  return { api, d: new ConsumerDispatcher(api, logs, 'test'), logs };
}

const text = (b: unknown): string => Buffer.from(b as Uint8Array).toString('utf8');

const names = {
  channels: 'centrifugo-channels',
  idempotencyKey: 'centrifugo-idempotency-key',
  delta: 'centrifugo-delta',
  version: 'centrifugo-version',
  versionEpoch: 'centrifugo-version-epoch',
  tagsPrefix: 'centrifugo-tag-',
};

function metaOf(fields: Record<string, string>) {
  return publicationMeta(
    names,
    (n) => fields[n],
    () => Object.keys(fields),
  );
}

describe('ConsumerDispatcher.dispatchCommand', () => {
  it('runs the method with the decoded request, raw data kept byte for byte', async () => {
    const { api, d } = setup();
    await d.dispatchCommand(
      'publish',
      Buffer.from('{"channel":"news","data":{"a": 1},"idempotency_key":"k1"}'),
    );
    assert.equal(api.calls.length, 1);
    const call = api.calls[0];
    assert.equal(call?.method, 'publish');
    assert.equal(call?.request['channel'], 'news');
    assert.equal(call?.request['idempotency_key'], 'k1');
    assert.equal(text(call?.request['data']), '{"a": 1}');
  });

  it('reads method and payload from an envelope when no method is given', async () => {
    const { api, d } = setup();
    await d.dispatchCommand('', '{"method":"broadcast","payload":{"channels":["a","b"],"data":"x"}}');
    assert.equal(api.calls[0]?.method, 'broadcast');
    assert.deepEqual(api.calls[0]?.request['channels'], ['a', 'b']);
    assert.equal(text(api.calls[0]?.request['data']), '"x"');
  });

  it('accepts a payload that is a JSON string holding the request (JSONB through CDC tools)', async () => {
    const { api, d } = setup();
    await d.dispatchCommand('publish', JSON.stringify(JSON.stringify({ channel: 'c', data: { v: 2 } })));
    assert.equal(api.calls[0]?.request['channel'], 'c');
    assert.equal(text(api.calls[0]?.request['data']), '{"v":2}');
    await d.dispatchCommand(
      '',
      JSON.stringify({ method: 'publish', payload: JSON.stringify({ channel: 'e', data: 1 }) }),
    );
    assert.equal(api.calls[1]?.request['channel'], 'e');
  });

  it('skips (logs, does not throw) malformed messages and methods consumers do not run', async () => {
    const { api, d, logs } = setup();
    await d.dispatchCommand('publish', '{"channel": "a", "data": ');
    await d.dispatchCommand('', 'not json');
    await d.dispatchCommand('', '{"method": 5, "payload": {}}');
    await d.dispatchCommand('', '[1, 2]');
    await d.dispatchCommand('publish', '{"channel": 5}');
    await d.dispatchCommand('no_such_method', '{}');
    await d.dispatchCommand('history', '{"channel": "a"}');
    await d.dispatchCommand('publish', Buffer.from([0xff, 0xfe, 0x7b]));
    assert.equal(api.calls.length, 0);
    const skipped = logs.entries.filter(
      (e) => e.msg === 'non retryable error during consuming, skip message',
    );
    assert.equal(skipped.length, 8);
    assert.ok(skipped.every((e) => e.obj['consumer'] === 'test'));
  });

  it('runs every state-changing method', async () => {
    const { api, d } = setup();
    for (const m of ['subscribe', 'unsubscribe', 'disconnect', 'history_remove', 'refresh']) {
      await d.dispatchCommand(m, '{"channel":"a","user":"u"}');
    }
    assert.deepEqual(
      api.calls.map((c) => c.method),
      ['subscribe', 'unsubscribe', 'disconnect', 'history_remove', 'refresh'],
    );
  });

  it('skips API errors except internal ones, which throw RetryableError', async () => {
    const { api, d, logs } = setup();
    api.reply = () => ({ error: { code: 102, message: 'unknown channel' } });
    await d.dispatchCommand('publish', '{"channel":"x:y","data":{}}');
    assert.match(String(logs.entries.at(-1)?.obj['reason']), /API error 102/);
    api.reply = () => ({ error: { code: 100, message: 'internal server error' } });
    await assert.rejects(d.dispatchCommand('publish', '{"channel":"a","data":{}}'), RetryableError);
  });

  it('retries a broadcast when any channel answered an internal error', async () => {
    const { api, d } = setup();
    api.reply = () => ({ result: { responses: [{ result: {} }, { error: { code: 102, message: 'x' } }] } });
    await d.dispatchCommand('broadcast', '{"channels":["a","b"],"data":{}}');
    api.reply = () => ({ result: { responses: [{ result: {} }, { error: { code: 100, message: 'x' } }] } });
    await assert.rejects(d.dispatchCommand('broadcast', '{"channels":["a","b"],"data":{}}'), RetryableError);
  });
});

describe('publication data mode', () => {
  it('parses channels, idempotency key, delta, version, epoch and tags', () => {
    const m = metaOf({
      'centrifugo-channels': 'a, b,,c',
      'centrifugo-idempotency-key': 'idem',
      'centrifugo-delta': 'true',
      'centrifugo-version': '42',
      'centrifugo-version-epoch': 'ep',
      'centrifugo-tag-kind': 'k',
      'centrifugo-tag-': 'ignored',
      other: 'x',
    });
    assert.deepEqual(m, {
      channels: ['a', 'b', 'c'],
      idempotencyKey: 'idem',
      delta: true,
      version: 42,
      versionEpoch: 'ep',
      tags: { kind: 'k' },
    });
    assert.deepEqual(metaOf({}), {
      channels: [],
      idempotencyKey: '',
      delta: false,
      version: 0,
      versionEpoch: '',
    });
  });

  it('rejects unparsable delta and version values', () => {
    assert.throws(() => metaOf({ 'centrifugo-channels': 'a', 'centrifugo-delta': 'yes' }), BadMessageError);
    assert.throws(() => metaOf({ 'centrifugo-channels': 'a', 'centrifugo-version': '-1' }), BadMessageError);
    assert.equal(metaOf({ 'centrifugo-delta': 'F' }).delta, false);
  });

  it('publishes to one channel, broadcasts to several, skips none', async () => {
    const { api, d, logs } = setup();
    await d.dispatchPublication('{"n":1}', { ...metaOf({ 'centrifugo-channels': 'one' }), tags: { t: 'v' } });
    await d.dispatchPublication(
      Buffer.from('{"n":2}'),
      metaOf({ 'centrifugo-channels': 'a,b', 'centrifugo-version': '7' }),
    );
    await d.dispatchPublication('{"n":3}', metaOf({}));
    assert.equal(api.calls.length, 2);
    assert.equal(api.calls[0]?.method, 'publish');
    assert.equal(api.calls[0]?.request['channel'], 'one');
    assert.deepEqual(api.calls[0]?.request['tags'], { t: 'v' });
    assert.equal(api.calls[1]?.method, 'broadcast');
    assert.deepEqual(api.calls[1]?.request['channels'], ['a', 'b']);
    assert.equal(api.calls[1]?.request['version'], 7);
    assert.deepEqual(api.dataOf(), ['{"n":1}', '{"n":2}']);
    assert.match(String(logs.entries.at(-1)?.obj['reason']), /no channels/);
  });
});

describe('consumer config', () => {
  it('validates the settings an enabled consumer needs, naming the keys', () => {
    const c = defaultConfig();
    c.consumers = [
      consumerConfig((x) => {
        x.name = 'pg';
        x.type = 'postgresql';
        x.enabled = true;
      }),
      consumerConfig((x) => {
        x.name = 'js';
        x.type = 'nats_jetstream';
        x.enabled = true;
        x.nats_jetstream.deliver_policy = 'last';
        x.nats_jetstream.publication_data_mode.enabled = true;
        x.nats_jetstream.publication_data_mode.channels_header = '';
      }),
      consumerConfig((x) => {
        x.name = 'rs';
        x.type = 'redis_stream';
        x.enabled = true;
        x.redis_stream.address = ['redis://a:6379', 'redis://b:6379'];
      }),
      consumerConfig((x) => {
        x.name = 'off';
        x.type = 'postgresql';
      }),
    ];
    assert.deepEqual(validateConfig(c), [
      'consumers[0].postgresql.dsn: required',
      'consumers[0].postgresql.outbox_table_name: required',
      'consumers[1].nats_jetstream.stream_name: required',
      'consumers[1].nats_jetstream.durable_consumer_name: required',
      'consumers[1].nats_jetstream.deliver_policy: must be "new" or "all"',
      'consumers[1].nats_jetstream.publication_data_mode.channels_header: required when publication_data_mode.enabled',
      'consumers[2].redis_stream.address: one Redis address expected (no sharding)',
      'consumers[2].redis_stream.streams: required',
      'consumers[2].redis_stream.consumer_group: required',
    ]);
  });
});

describe('helpers', () => {
  it('reads the delivery count from JetStream ack subjects (both layouts)', () => {
    assert.equal(deliveryCount('$JS.ACK.S.C.3.10.9.1700000000000000000.0'), 3);
    assert.equal(deliveryCount('$JS.ACK.dom.hash.S.C.5.10.9.1700000000000000000.0.rnd'), 5);
    assert.equal(deliveryCount('garbage'), 1);
  });

  it('backs off exponentially with jitter up to the cap', () => {
    for (let i = 0; i < 20; i++) {
      const d0 = backoffDelay(0);
      assert.ok(d0 >= 50 && d0 <= 100, String(d0));
      const d10 = backoffDelay(10);
      assert.ok(d10 >= 2500 && d10 <= 5000, String(d10));
    }
  });

  it('Waker: wake cuts a sleep short, is remembered once, close ends every sleep', async () => {
    const w = new Waker();
    const t0 = Date.now();
    const s = w.sleep(10_000);
    w.wake();
    await s;
    w.wake();
    w.wake();
    await w.sleep(10_000); // the pending wake
    const late = w.sleep(30);
    await late; // no wake left: the timer ends it
    w.close();
    await w.sleep(10_000);
    assert.ok(Date.now() - t0 < 2000);
  });
});

describe('Waker with several sleepers', () => {
  it('each sleep ends on its own timer; wake and close end them all', async () => {
    const w = new Waker();
    const ended: string[] = [];
    const long = w.sleep(10_000).then(() => ended.push('long'));
    await w.sleep(20).then(() => ended.push('short'));
    assert.deepEqual(ended, ['short']);
    const other = w.sleep(10_000).then(() => ended.push('other'));
    w.close();
    await Promise.all([long, other]);
    assert.deepEqual(ended.sort(), ['long', 'other', 'short']);
  });
});
