import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second used by /proc/<pid>/stat (USER_HZ; 100 on every common Linux build). */
const CLK_TCK = 100;

/**
 * CPU time (user + system) consumed so far by a process, in microseconds: the sum of its threads'
 * `/proc/<pid>/task/<tid>/schedstat` run times (nanosecond resolution), or, where the kernel has no
 * schedstat, `utime + stime` from `/proc/<pid>/stat` (one clock tick, 10 ms). Threads are summed
 * as they are now: Node's threads (main, libuv pool, V8 platform) live as long as the process.
 */
export function processCpuMicros(pid: number): number {
  let ns = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return statCpuMicros(pid);
  }
  for (const tid of tids) {
    let line: string;
    try {
      line = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && tid === String(pid)) return statCpuMicros(pid);
      continue; // the thread ended meanwhile
    }
    ns += Number(line.slice(0, line.indexOf(' ')));
  }
  return ns / 1000;
}

/** User and system CPU time of a process in microseconds, from `/proc/<pid>/stat` (10 ms resolution). */
export function userSystemMicros(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields are counted after its closing paren.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(rest[11]) * 1_000_000) / CLK_TCK, system: (Number(rest[12]) * 1_000_000) / CLK_TCK };
}

/** `utime + stime` of a process in microseconds, from `/proc/<pid>/stat` (10 ms resolution). */
export function statCpuMicros(pid: number): number {
  const { user, system } = userSystemMicros(pid);
  return user + system;
}

/** Resident set size of a process in bytes, from `/proc/<pid>/status` (VmRSS). */
export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m?.[1] !== undefined ? Number(m[1]) * 1024 : 0;
}

/** True when `taskset` exists and more than one core is available. */
export function canPin(): boolean {
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' });
    return cpuCount() > 1;
  } catch {
    return false;
  }
}

/** Online CPU count as seen by the scheduler. */
export function cpuCount(): number {
  try {
    return Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    return 1;
  }
}

/**
 * Pin every thread of a running process to one core. Threads created later inherit the mask
 * from their creator, so pinning the load generator before starting workers pins the workers too.
 */
export function pinProcess(pid: number, core: number): void {
  execFileSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

/** A process and all its descendants (from `/proc/<pid>/task/<tid>/children`), parent first. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of tids) {
      try {
        const kids = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(' ')) out.push(Number(k));
      } catch {
        /* thread gone */
      }
    }
  }
  return out;
}

/** CPU time (µs) of a process plus its descendants alive now (e.g. `gyre serve --workers N`). */
export function treeCpuMicros(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    try {
      sum += processCpuMicros(p);
    } catch {
      /* exited meanwhile */
    }
  }
  return sum;
}
