/**
 * Where CLI commands write and what they read from the outside, so tests can run `main()`
 * in-process and capture output.
 */
export interface CliIO {
  /** Writes to stdout (text is written as is; commands add their own newlines). */
  out(text: string): void;
  /** Writes to stderr. */
  err(text: string): void;
  /** Environment for config loading; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** `serve` only: exit the process after shutdown (default true). */
  exitAfterShutdown?: boolean;
}

/** The real process streams. */
export const processIO: CliIO = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};
