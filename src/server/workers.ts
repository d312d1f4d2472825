/**
 * Several worker processes on one host (`gyre serve --workers N`, env `GYRE_WORKERS`): the primary
 * process forks N `node:cluster` workers, each a full Gyre node listening on the same port (the
 * cluster module shares the listening socket) and joined to the others through the configured
 * broker and controller (Redis or NATS). The primary holds no connections; it relays SIGTERM /
 * SIGINT to the workers and waits for them, forwards SIGHUP (configuration reload) to each,
 * replaces a worker that dies while serving, and combines the workers' Prometheus figures for
 * `/metrics` (`metrics/cluster.ts`).
 */
import cluster, { type Worker } from 'node:cluster';
import type { EventEmitter } from 'node:events';
import type { Logger } from '../core/logger.js';
import type { Config } from './config/index.js';
import { resolveEngineTypes } from './engines.js';
import { CLUSTER_METRICS_ENV, relayClusterMetrics } from './metrics/cluster.js';

/** Env variable naming the number of worker processes (Gyre only, not a Centrifugo key). */
export const WORKERS_ENV = 'GYRE_WORKERS';

/** True inside a worker forked by `runWorkers`. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}

/** Cluster worker id (1..N) inside a worker, else undefined. */
export function workerId(): number | undefined {
  return cluster.isWorker ? cluster.worker?.id : undefined;
}

/**
 * The worker count asked for: the `--workers` flag, else `GYRE_WORKERS`, else 1. Throws an error
 * naming the flag/env for anything but a positive integer.
 */
export function workerCount(flag: string | number | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const raw = flag ?? env[WORKERS_ENV];
  if (raw === undefined || raw === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `${flag !== undefined ? '--workers' : WORKERS_ENV}: must be a positive integer, got "${raw}"`,
    );
  }
  return n;
}

/**
 * Throws when `workers` > 1 cannot work with this config: the memory broker does not reach other
 * processes. Memory presence only warns (each worker then sees only its own clients in presence).
 * `source` names where the count came from in the error (`--workers`, or `GYRE_WORKERS`).
 */
export function checkWorkersConfig(
  config: Config,
  workers: number,
  logger: Logger,
  source: '--workers' | typeof WORKERS_ENV = '--workers',
): void {
  if (workers <= 1) return;
  const types = resolveEngineTypes(config);
  if (types.broker === 'memory') {
    const given = source === WORKERS_ENV ? `${WORKERS_ENV}=${workers}` : `--workers ${workers}`;
    throw new Error(
      `${given}: worker processes need a shared broker; set engine.type to "redis" ` +
        '(or broker.enabled with broker.type "redis" or "nats")',
    );
  }
  if (types.presenceManager === 'memory') {
    logger.warn({ workers }, 'presence_manager is memory: presence is per worker process');
  }
}

/**
 * Runs the primary: forks `workers` processes re-running this command line and resolves with the
 * exit code once every worker is gone after `stop` resolved (or after a worker failed to start:
 * then the others are stopped too and the code is 1). Each `reload` event of `reloads` (the
 * primary's SIGHUP) is forwarded as SIGHUP to every worker; a worker still starting gets it once it
 * listens (its SIGHUP handler is installed by then, so the signal never kills it).
 */
export async function runWorkers(
  workers: number,
  logger: Logger,
  stop: Promise<NodeJS.Signals>,
  reloads?: EventEmitter,
): Promise<number> {
  let stopping = false;
  let failed = false;
  const listening = new Set<number>();
  const reloadWhenListening = new Set<number>();
  const alive = new Set<Worker>();

  // Workers' /metrics show every worker's figures: the primary combines them on request.
  const metricsRelay = relayClusterMetrics(logger);
  const fork = (): void => {
    const w = cluster.fork({ [CLUSTER_METRICS_ENV]: '1' });
    alive.add(w);
    w.on('listening', () => {
      listening.add(w.id);
      if (reloadWhenListening.delete(w.id)) w.process.kill('SIGHUP');
    });
    w.on('exit', (code, signal) => {
      alive.delete(w);
      const served = listening.has(w.id);
      if (stopping) return;
      if (!served) {
        // A worker that dies before listening would only die again: stop everything.
        logger.error({ worker: w.id, code, signal }, 'worker failed to start');
        failed = true;
        stopAll('SIGTERM');
        return;
      }
      logger.warn({ worker: w.id, code, signal }, 'worker exited, starting a new one');
      fork();
    });
  };

  const stopAll = (signal: NodeJS.Signals): void => {
    stopping = true;
    for (const w of alive) w.process.kill(signal);
  };

  const allGone = new Promise<void>((resolve) => {
    cluster.on('exit', () => {
      if (stopping && alive.size === 0) resolve();
    });
  });

  const forwardReload = (): void => {
    if (stopping) return;
    logger.info({ workers: alive.size }, 'forwarding SIGHUP (configuration reload) to worker processes');
    for (const w of alive) {
      if (listening.has(w.id)) w.process.kill('SIGHUP');
      else reloadWhenListening.add(w.id);
    }
  };
  reloads?.on('reload', forwardReload);

  logger.info({ workers }, 'starting worker processes');
  for (let i = 0; i < workers; i++) fork();
  void stop.then((signal) => {
    if (stopping) return;
    logger.info({ signal }, 'stopping worker processes');
    stopAll('SIGTERM');
  });
  await allGone;
  metricsRelay.close();
  reloads?.off('reload', forwardReload);
  return failed ? 1 : 0;
}
