import { readFileSync } from 'node:fs';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';

/** NATS connection settings (the `broker.nats` section, durations in ms). */
export interface NatsSettings {
  /** Server URL(s), comma separated allowed. Default `nats://localhost:4222`. */
  url: string;
  /** Subject prefix. Default `centrifugo`. */
  prefix: string;
  /** Connect timeout (ms). */
  dialTimeout: number;
  /** Bound (ms) on waiting for the server to acknowledge subscriptions (a flush). */
  writeTimeout: number;
  /** Subscribing to a channel with `*` / `>` tokens subscribes to the NATS wildcard. */
  allowWildcards: boolean;
  tls?: { cert?: string; key?: string; ca?: string };
  /** Connection name shown by the NATS server. */
  name?: string;
  /**
   * Raw mode (`broker.nats.raw_mode`): a channel is the subject `prefix` + the channel name with
   * `replacements` applied, and carries bare publication data, no envelope.
   */
  rawMode?: { prefix: string; replacements: Record<string, string> };
}

function pemOrFile(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  return v.includes('-----BEGIN') ? v : readFileSync(v, 'utf8');
}

/**
 * One NATS connection shared by the broker and the controller of a node: opened by the first
 * `acquire`, closed (drained) when the last holder releases it. Reconnects forever after the
 * first connection succeeded; the first connection failing rejects `acquire`.
 */
export class SharedNatsConnection {
  private conn: Promise<NatsConnection> | undefined;
  private holders = 0;

  constructor(readonly settings: NatsSettings) {}

  acquire(): Promise<NatsConnection> {
    this.holders++;
    if (this.conn === undefined) {
      const s = this.settings;
      const opts: NodeConnectionOptions = {
        servers: s.url
          .split(',')
          .map((u) => u.trim())
          .filter((u) => u !== ''),
        timeout: s.dialTimeout,
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        name: s.name ?? 'gyre',
      };
      if (s.tls !== undefined) {
        const tls: NonNullable<NodeConnectionOptions['tls']> = {};
        const cert = pemOrFile(s.tls.cert);
        const key = pemOrFile(s.tls.key);
        const ca = pemOrFile(s.tls.ca);
        if (cert !== undefined) tls.cert = cert;
        if (key !== undefined) tls.key = key;
        if (ca !== undefined) tls.ca = ca;
        opts.tls = tls;
      }
      const p = connect(opts);
      this.conn = p;
      p.catch(() => {
        if (this.conn === p) this.conn = undefined;
      });
    }
    return this.conn;
  }

  async release(): Promise<void> {
    if (this.holders === 0) return;
    this.holders--;
    if (this.holders > 0 || this.conn === undefined) return;
    const p = this.conn;
    this.conn = undefined;
    const nc = await p.catch(() => undefined);
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }
}

/** Resolves `p` or rejects after `ms` with a timeout error naming `what`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (ms <= 0) return p;
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
