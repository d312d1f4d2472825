import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from './logger.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, lines };
}

describe('createLogger', () => {
  it('honours log.level', () => {
    const { stream, lines } = capture();
    const logger = createLogger({ log: { level: 'warn', file: '' } }, { destination: stream });
    logger.info({}, 'hidden');
    logger.warn({ a: 1 }, 'shown');
    assert.deepEqual(
      lines().map((l) => [l['msg'], l['a']]),
      [['shown', 1]],
    );
  });

  it('level none logs nothing', () => {
    const { stream, lines } = capture();
    const logger = createLogger({ log: { level: 'none', file: '' } }, { destination: stream });
    logger.error({}, 'nope');
    assert.deepEqual(lines(), []);
  });

  it('writes to log.file when set', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gyre-log-')), 'sub', 'gyre.log');
    const logger = createLogger({ log: { level: 'debug', file } });
    logger.debug({ x: 2 }, 'to file');
    const line = JSON.parse(readFileSync(file, 'utf8').trim()) as Record<string, unknown>;
    assert.equal(line['msg'], 'to file');
    assert.equal(line['x'], 2);
  });
});
