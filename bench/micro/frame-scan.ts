/**
 * Micro-benchmark: how the load generator finds the send time in a received Gyre JSON frame (14
 * publication pushes, one per line, as a busy server batches them). Three ways to find a line's
 * `"t":` and its end, each checked to read the same send times:
 * - `four-byte loop`: compare four bytes at every position, lines found by a loop, and scan on for a
 *   second `"t":` after the first (the load generator before 2026-12-05);
 * - `indexOf needle`: `Buffer.indexOf('"t":')` and `Buffer.indexOf('\n')`;
 * - `t first`: a loop that only looks at neighbours after a `t`, lines found by `indexOf('\n')`
 *   (`bench/loadgen/worker.ts`).
 *
 *   node --import tsx bench/micro/frame-scan.ts [iterations]
 */
import assert from 'node:assert/strict';

const iterations = Number(process.argv[2] ?? 200_000);
const NL = 0x0a;
const NEEDLE = Buffer.from('"t":');

const line = (i: number): string =>
  `{"push":{"channel":"sat","pub":{"data":{"t":${1_733_400_000_000_000 + i},"s":${i},"p":"${'x'.repeat(30)}"},"offset":${i}}}}`;
const frame = Buffer.from(Array.from({ length: 14 }, (_, i) => line(i)).join('\n'));

function digitsAt(buf: Buffer, i: number, to: number): number {
  let t = 0;
  for (; i < to; i++) {
    const c = (buf[i] as number) - 48;
    if (c < 0 || c > 9) break;
    t = t * 10 + c;
  }
  return t;
}

function fourByteLoop(buf: Buffer, out: number[]): void {
  const after = (from: number, to: number): number => {
    for (let i = from + 3; i < to; i++) {
      if (buf[i] === 0x3a && buf[i - 1] === 0x22 && buf[i - 2] === 0x74 && buf[i - 3] === 0x22) return i + 1;
    }
    return -1;
  };
  let from = 0;
  while (from < buf.length) {
    let nl = from;
    while (nl < buf.length && buf[nl] !== NL) nl++;
    let i = after(from, nl);
    while (i >= 0) {
      out.push(digitsAt(buf, i, nl));
      i = after(i, nl);
    }
    from = nl + 1;
  }
}

/** Index of the send time's first digit in line [from, to), or -1. */
type FindT = (buf: Buffer, from: number, to: number) => number;

function needleT(buf: Buffer, from: number, to: number): number {
  const i = buf.indexOf(NEEDLE, from);
  return i >= 0 && i < to ? i + 4 : -1;
}

function tFirstT(buf: Buffer, from: number, to: number): number {
  for (let i = from + 1; i < to - 2; i++) {
    if (buf[i] !== 0x74) continue;
    if (buf[i + 1] === 0x22 && buf[i + 2] === 0x3a && buf[i - 1] === 0x22) return i + 3;
  }
  return -1;
}

/** Lines found by `Buffer.indexOf('\n')`, the send time in each by `find`. */
function byLines(find: FindT): (buf: Buffer, out: number[]) => void {
  return (buf, out) => {
    let from = 0;
    while (from < buf.length) {
      let nl = buf.indexOf(NL, from);
      if (nl < 0) nl = buf.length;
      const i = find(buf, from, nl);
      if (i >= 0) out.push(digitsAt(buf, i, nl));
      from = nl + 1;
    }
  };
}

const ways: [string, (buf: Buffer, out: number[]) => void][] = [
  ['four-byte loop', fourByteLoop],
  ['indexOf needle', byLines(needleT)],
  ['t first', byLines(tFirstT)],
];
const expected = Array.from({ length: 14 }, (_, i) => 1_733_400_000_000_000 + i);
for (const [name, scan] of ways) {
  const out: number[] = [];
  scan(frame, out);
  assert.deepEqual(out, expected, name);
}
for (let round = 0; round < 2; round++) {
  for (const [name, scan] of ways) {
    const out: number[] = [];
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < iterations; k++) {
      out.length = 0;
      scan(frame, out);
    }
    const ns = Number(process.hrtime.bigint() - t0) / (iterations * 14);
    console.log(`${name.padEnd(15)} ${ns.toFixed(1).padStart(7)} ns per publication`);
  }
}
