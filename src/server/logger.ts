/**
 * The server's logger: pino, configured from `log.level` and `log.file`.
 */
import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';
import type { Config } from './config/index.js';

/** Pino logger returned by {@link createLogger}; satisfies core's `Logger` interface. */
export type ServerLogger = PinoLogger;

const LEVELS: Record<string, pino.LevelWithSilent> = {
  none: 'silent',
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
};

/**
 * Creates the server logger. `log.level` is one of `none, trace, debug, info, warn, error`
 * (`none` silences everything; unknown values fall back to `info`). With `log.file` set, lines are
 * appended to that file (created with its directories) instead of stdout.
 */
export function createLogger(
  config: Pick<Config, 'log'>,
  opts: { destination?: pino.DestinationStream } = {},
): ServerLogger {
  const level = LEVELS[config.log.level] ?? 'info';
  const options: pino.LoggerOptions = { level, base: { pid: process.pid } };
  if (opts.destination) return pino(options, opts.destination);
  if (config.log.file !== '') {
    return pino(options, pino.destination({ dest: config.log.file, mkdir: true, sync: true }));
  }
  return pino(options, pino.destination({ dest: 1, sync: true }));
}
