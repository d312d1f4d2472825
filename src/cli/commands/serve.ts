import { EventEmitter } from 'node:events';
import { writeFileSync, rmSync } from 'node:fs';
import type { CliIO } from '../io.js';
import { loadValid } from '../common.js';
import { loadConfig } from '../../server/config/index.js';
import type { ConfigSource } from '../../server/reload.js';
import { createLogger } from '../../server/logger.js';
import {
  checkWorkersConfig,
  isWorkerProcess,
  runWorkers,
  workerCount,
  WORKERS_ENV,
} from '../../server/workers.js';

/** Config-key flags of the server command (all optional; only the ones given are applied). */
export type ServeFlags = Record<string, string | boolean | undefined>;

/**
 * Runs the server: load + validate config (exit 1 listing every error, before any port opens),
 * create the logger, write `pid_file`, start, and shut down gracefully on SIGTERM/SIGINT. SIGHUP
 * reloads token and channel settings from the same file, environment and flags (with
 * `--workers`, the primary forwards it to every worker). Resolves with the exit code once the
 * server has stopped.
 */
export async function runServe(
  io: CliIO,
  configFile: string,
  flags: ServeFlags,
  workersFlag?: string,
): Promise<number> {
  const res = await loadValid(io, { file: configFile, flags });
  if (!res) return 1;
  const { config } = res;
  const logger = createLogger(config);
  const worker = isWorkerProcess();
  if (!worker) {
    for (const w of res.warnings) logger.warn({}, w);
    if (res.file) logger.info({ path: res.file }, 'using config file');
  }
  // Several worker processes (Gyre only: --workers / GYRE_WORKERS); workers run as single nodes.
  let workers = 1;
  if (!worker) {
    try {
      workers = workerCount(workersFlag);
      checkWorkersConfig(config, workers, logger, workersFlag !== undefined ? '--workers' : WORKERS_ENV);
    } catch (err) {
      io.err(`error: ${(err as Error).message}\n`);
      return 1;
    }
  }

  // Signal handlers go in before the server starts so a signal sent as soon as it is listening
  // (or while it starts) still leads to a graceful shutdown.
  let signalled: ((signal: NodeJS.Signals) => void) | undefined;
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => (signalled = resolve));
  const onSignal = (signal: NodeJS.Signals) => signalled?.(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP reloads the configuration (it would otherwise end the process). One that arrives while
  // the server starts is applied once it runs; with workers, the primary forwards it.
  const reloads = new EventEmitter();
  const onHangup = () => void reloads.emit('reload');
  process.on('SIGHUP', onHangup);
  // A worker whose primary is gone (killed) stops too.
  const onOrphaned = () => signalled?.('SIGTERM');
  if (worker) process.once('disconnect', onOrphaned);
  const removeHandlers = () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    process.off('SIGHUP', onHangup);
    process.off('disconnect', onOrphaned);
  };

  const ownsPidFile = config.pid_file !== '' && !worker;
  if (ownsPidFile) writeFileSync(config.pid_file, `${process.pid}\n`);
  if (workers > 1) {
    const code = await runWorkers(workers, logger, stopRequested, reloads);
    removeHandlers();
    if (ownsPidFile) rmSync(config.pid_file, { force: true });
    logger.info({}, 'shutdown completed');
    logger.flush();
    if (io.exitAfterShutdown !== false) process.exit(code);
    return code;
  }
  const { startServer } = await import('../../server/app.js');
  let reloadPending = false;
  const markPending = () => void (reloadPending = true);
  reloads.on('reload', markPending);
  // The file that was read at start must still be there: a reload never falls back to defaults.
  const reloadSource: ConfigSource = () =>
    loadConfig({ file: configFile, flags, env: io.env ?? process.env, fileRequired: res.file !== undefined });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(config, logger, { reloadSource });
  } catch (err) {
    removeHandlers();
    if (ownsPidFile) rmSync(config.pid_file, { force: true });
    logger.error({ error: (err as Error).message }, 'error starting server');
    io.err(`error: ${(err as Error).message}\n`);
    return 1;
  }
  reloads.off('reload', markPending);
  const running = server;
  reloads.on('reload', () => void running.reload());
  if (reloadPending) void server.reload();
  const signal = await stopRequested;
  logger.info({ signal }, 'shutting down');
  let code = 0;
  try {
    await server.shutdown();
  } catch (err) {
    logger.error({ error: String(err) }, 'error during shutdown');
    code = 1;
  }
  removeHandlers();
  if (ownsPidFile) rmSync(config.pid_file, { force: true });
  logger.info({}, 'shutdown completed');
  logger.flush();
  if (io.exitAfterShutdown !== false) process.exit(code);
  return code;
}
