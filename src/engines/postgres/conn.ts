import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import { noopLogger, type Logger } from '../../core/logger.js';
import { loadPem, type TlsSettings } from '../../util/pem.js';

/** How to reach PostgreSQL. */
export interface PgSettings {
  /** `postgres://user:pass@host:port/db?...` (libpq key=value strings work too). */
  dsn: string;
  /** The config's `tls` object (`enabled` false = whatever the DSN says). */
  tls?: TlsSettings;
  /** Config key of `tls`, for error messages. */
  tlsKey?: string;
  /** Pool size. */
  poolSize: number;
  /** DSN of the LISTEN connection; empty = `dsn`. */
  notifyDsn?: string;
  /** Application name shown in pg_stat_activity. */
  name?: string;
}

function sslOf(s: PgSettings): ConnectionOptions | undefined {
  const tls = s.tls;
  if (!tls?.enabled) return undefined;
  const key = s.tlsKey ?? 'tls';
  const out: ConnectionOptions = { rejectUnauthorized: !tls.insecure_skip_verify };
  if (tls.server_ca_pem) out.ca = loadPem(tls.server_ca_pem, `${key}.server_ca_pem`);
  if (tls.cert_pem) out.cert = loadPem(tls.cert_pem, `${key}.cert_pem`);
  if (tls.key_pem) out.key = loadPem(tls.key_pem, `${key}.key_pem`);
  if (tls.server_name) out.servername = tls.server_name;
  return out;
}

function clientConfig(s: PgSettings, dsn: string): pg.ClientConfig {
  const c: pg.ClientConfig = { connectionString: dsn, keepAlive: true, connectionTimeoutMillis: 5000 };
  if (s.name !== undefined) c.application_name = s.name;
  const ssl = sslOf(s);
  if (ssl) c.ssl = ssl;
  return c;
}

/** A pool of connections; pool-level errors (an idle connection dropped) are logged, not thrown. */
export function createPool(s: PgSettings, logger: Logger = noopLogger): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(s, s.dsn), max: Math.max(1, s.poolSize) });
  pool.on('error', (err) => logger.warn({ err: err.message }, 'postgres: idle connection error'));
  return pool;
}

/**
 * One LISTEN connection kept open: reconnects with backoff after errors, and calls `onReady` after
 * every (re)connect so the owner reads what it may have missed meanwhile.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private closed = false;
  private backoff = 100;
  private retry: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: PgSettings,
    private readonly channel: string,
    private readonly onNotify: (payload: string) => void,
    private readonly onReady: () => void,
    private readonly logger: Logger = noopLogger,
  ) {}

  /** Connects once; rejects when the first connection fails (later failures are retried). */
  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const c = new pg.Client(clientConfig(this.settings, this.settings.notifyDsn || this.settings.dsn));
    const lost = (err?: Error): void => {
      if (this.client !== c) return;
      this.client = undefined;
      c.removeAllListeners('notification');
      c.end().catch(() => {});
      if (this.closed) return;
      this.logger.warn({ channel: this.channel, err: err?.message }, 'postgres: LISTEN connection lost');
      this.schedule();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    c.on('notification', (n) => this.onNotify(n.payload ?? ''));
    try {
      await c.connect();
      await c.query(`LISTEN ${this.channel}`);
    } catch (err) {
      c.end().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await c.end().catch(() => {});
      return;
    }
    this.client = c;
    this.backoff = 100;
    this.onReady();
  }

  private schedule(): void {
    if (this.closed || this.retry) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 5000);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect().catch((err: Error) => {
        this.logger.warn({ channel: this.channel, err: err.message }, 'postgres: LISTEN reconnect failed');
        this.schedule();
      });
    }, delay);
    this.retry.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => {});
  }
}

/**
 * Runs `fn` with a transaction-level advisory lock keyed by `name` (schema creation, partition
 * maintenance), so nodes doing the same thing at once take turns.
 */
export async function withAdvisoryLock<T>(
  pool: pg.Pool,
  name: string,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [name]);
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}
