/**
 * The logging surface core uses: a subset of pino's API, so a pino logger can be passed as is.
 * Core logs with a context object first and an optional message second.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

/** A logger that drops everything (the default of an embedded Node). */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
