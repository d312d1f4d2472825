/**
 * Configuration reload (SIGHUP, or `RunningServer.reload()` when embedding), as Centrifugo v6 does
 * it: the configuration is read again from the same sources as at start (file, `.env`, environment,
 * flags) and validated; then only the token verification settings and the channel options take
 * effect. Every other changed key keeps its running value until a restart, and a log line names
 * them. A configuration that does not load or validate changes nothing: the errors are logged, each
 * with its key, and the running configuration stays in force. A reload never stops the server.
 *
 * Applying is two reference swaps (the token verifiers held by the app, and the compiled channel
 * rules inside `ChannelRules`), so the hot path takes no lock. Connections and subscriptions that
 * already exist keep their state; every command handled after the swap (connect, refresh,
 * subscribe, publish, history, presence, server API calls) uses the new settings.
 */
import type { Logger } from '../core/logger.js';
import { createTokenVerifiers, type TokenVerifiers } from './auth/index.js';
import { ChannelRules } from './channels/index.js';
import { ConfigError, validateConfig, type Config } from './config/index.js';

/** Outcome of one reload. */
export interface ReloadResult {
  /** True when the new configuration was accepted (even if nothing reloadable changed). */
  ok: boolean;
  /** Changed keys now in effect (token settings, channel options). */
  applied: string[];
  /** Changed keys that keep their running value until a restart. */
  notApplied: string[];
  /** Why the reload was refused, each message starting with its key; empty when `ok`. */
  errors: string[];
}

/** Reads the configuration again (the CLI re-reads the file, `.env`, environment and flags). */
export type ConfigSource = () => Promise<{ config: Config; warnings?: readonly string[] }>;

/** The parts of the running app a reload replaces. */
export interface ReloadTarget {
  readonly rules: ChannelRules;
  setVerifiers(v: TokenVerifiers): void;
}

/** Keys of the `client` section that reload applies (token verification). */
const TOKEN_KEYS = [
  'client.token',
  'client.subscription_token',
  'client.insecure_skip_token_signature_verify',
] as const;

const under = (path: string, key: string): boolean => path === key || path.startsWith(`${key}.`);

/** True for token verification keys. */
function isTokenKey(path: string): boolean {
  return TOKEN_KEYS.some((k) => under(path, k));
}

/**
 * True when a reload applies a change of `path`: the token verification settings
 * (`client.token.*`, `client.subscription_token.*`, `client.insecure_skip_token_signature_verify`)
 * and the channel section (`channel.*`) except the channel proxy endpoints (`channel.proxy.*`:
 * proxies are set up at start).
 */
export function isReloadableKey(path: string): boolean {
  if (under(path, 'channel.proxy')) return false;
  return under(path, 'channel') || isTokenKey(path);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Key paths whose values differ between `a` and `b` (`channel.namespaces[0].presence`). Arrays of
 * the same length are compared element by element; a length change reports the array itself.
 */
export function changedKeys(a: unknown, b: unknown, path = ''): string[] {
  if (isObject(a) && isObject(b)) {
    const out: string[] = [];
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      out.push(...changedKeys(a[k], b[k], path === '' ? k : `${path}.${k}`));
    }
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return [path];
    return a.flatMap((x, i) => changedKeys(x, b[i], `${path}[${i}]`));
  }
  return Object.is(a, b) ? [] : [path];
}

/**
 * `running` with the reloadable keys taken from `next`: the configuration in force after a reload.
 * The channel proxy endpoints and everything outside token and channel settings stay as running.
 */
export function effectiveConfig(running: Config, next: Config): Config {
  return {
    ...running,
    client: {
      ...running.client,
      token: next.client.token,
      subscription_token: next.client.subscription_token,
      insecure_skip_token_signature_verify: next.client.insecure_skip_token_signature_verify,
    },
    channel: { ...next.channel, proxy: running.channel.proxy },
  };
}

/** What {@link planReload} decided; nothing is applied yet. */
export interface ReloadPlan extends ReloadResult {
  /** The configuration in force once applied. */
  effective: Config;
  /** New channel rules, when channel options changed. */
  rules?: ChannelRules;
  /** New token verifiers, when token settings changed. */
  verifiers?: TokenVerifiers;
}

/**
 * Validates `next` against the running configuration and builds what a reload would swap in.
 * Pure apart from reading PEM files named by token settings; throws nothing (problems are in
 * `errors`, each starting with its key).
 */
export function planReload(running: Config, next: Config): ReloadPlan {
  const changed = changedKeys(running, next);
  const applied = changed.filter(isReloadableKey);
  const notApplied = changed.filter((k) => !isReloadableKey(k));
  const refused = (errors: string[]): ReloadPlan => ({
    ok: false,
    applied: [],
    notApplied: [],
    errors,
    effective: running,
  });

  const errors = validateConfig(next);
  if (errors.length > 0) return refused(errors);
  const effective = effectiveConfig(running, next);
  // The new token and channel settings must also hold together with what keeps running (named
  // proxies, the personal channel namespace, ...).
  const combined = validateConfig(effective);
  if (combined.length > 0) {
    return refused(
      combined.map(
        (e) => `${e} (keys outside token and channel settings keep their running values until a restart)`,
      ),
    );
  }

  const plan: ReloadPlan = { ok: true, applied, notApplied, errors: [], effective };
  if (applied.some(isTokenKey)) {
    try {
      plan.verifiers = createTokenVerifiers(effective);
    } catch (err) {
      return refused([(err as Error).message]);
    }
  }
  if (applied.some((k) => under(k, 'channel'))) {
    try {
      plan.rules = new ChannelRules(effective.channel, effective.client.subscribe_to_user_personal_channel);
    } catch (err) {
      return refused([`channel: ${(err as Error).message}`]);
    }
  }
  return plan;
}

/** The key an error message starts with (`channel.namespaces[1].name: ...`), if any. */
function keyOf(message: string): string | undefined {
  return /^([A-Za-z0-9_.[\]-]+): /.exec(message)?.[1];
}

/** Options of {@link ConfigReloader}. */
export interface ReloaderOptions {
  /** The configuration the server started with. */
  config: Config;
  target: ReloadTarget;
  logger: Logger;
  /** Where `reload()` without an argument reads the configuration from. */
  source?: ConfigSource | undefined;
}

/**
 * Applies reloads one at a time (a second SIGHUP while one is being read waits for it) and keeps
 * the configuration in force, so each reload is compared with what is running.
 */
export class ConfigReloader {
  private running: Config;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ReloaderOptions) {
    this.running = opts.config;
  }

  /** The configuration in force: the start configuration with the reloaded keys applied. */
  get config(): Config {
    return this.running;
  }

  /**
   * Reloads from `next` (a complete configuration, e.g. `defaultConfig()` changed) or, without
   * it, from the configured source. Never rejects: problems are in the result and in the log.
   */
  reload(next?: Config): Promise<ReloadResult> {
    const run = this.queue.then(() => this.run(next));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(given: Config | undefined): Promise<ReloadResult> {
    const { logger, source } = this.opts;
    logger.info({}, 'reloading configuration');
    let next: Config;
    if (given !== undefined) {
      next = structuredClone(given);
    } else if (source === undefined) {
      return this.refuse(['no configuration source to reload from: pass the new configuration']);
    } else {
      try {
        const res = await source();
        for (const w of res.warnings ?? []) logger.warn({}, w);
        next = res.config;
      } catch (err) {
        return this.refuse(err instanceof ConfigError ? err.errors : [(err as Error).message]);
      }
    }

    let plan: ReloadPlan;
    try {
      plan = planReload(this.running, next);
    } catch (err) {
      // Only a malformed programmatic configuration (missing sections) gets here.
      return this.refuse([`invalid configuration: ${(err as Error).message}`]);
    }
    if (!plan.ok) return this.refuse(plan.errors);

    if (plan.verifiers !== undefined) this.opts.target.setVerifiers(plan.verifiers);
    if (plan.rules !== undefined) this.opts.target.rules.replaceWith(plan.rules);
    this.running = plan.effective;
    if (plan.notApplied.length > 0) {
      logger.warn(
        { keys: plan.notApplied },
        'configuration keys changed but not applied by reload: they take effect after a restart',
      );
    }
    logger.info({ applied: plan.applied }, 'configuration successfully reloaded');
    return { ok: true, applied: plan.applied, notApplied: plan.notApplied, errors: [] };
  }

  private refuse(errors: string[]): ReloadResult {
    for (const error of errors) {
      const key = keyOf(error);
      this.opts.logger.error(
        key === undefined ? { error } : { key, error },
        'error reloading configuration, the running configuration is kept',
      );
    }
    return { ok: false, applied: [], notApplied: [], errors };
  }
}
