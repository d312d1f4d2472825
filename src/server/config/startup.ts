/**
 * Settings that are valid Centrifugo v6 configuration but that Gyre cannot start with: features
 * Gyre does not have (some broker, map broker and consumer types, NATS raw mode), and values that
 * must load when the server starts (TLS PEMs and certificates, token public keys, JWKS URL
 * templates, `client.allowed_origins` patterns, Redis and NATS addresses, credentials files).
 *
 * Part of `validateConfig`, so `gyre checkconfig` refuses exactly what `gyre serve` would refuse
 * at start-up, with the same messages; `startServer` runs it again for callers that skip
 * validation. Only the sections the server would use are checked (an enabled TLS object of an
 * unused Redis section is not read).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { loadPem } from '../../util/pem.js';
import { checkJwksTemplateSafety } from '../auth/jwks.js';
import { ecAlgs, PublicKeys, rsaAlgs } from '../auth/keys.js';
import { compileGlob } from '../http/glob.js';
import type { Config, RedisConnectionConfig, TLSConfig, TokenConfig } from './types.js';

/** `broker.type` values Gyre runs (Centrifugo also knows `redisnats`). */
export const SUPPORTED_BROKER_TYPES = ['memory', 'redis', 'nats', 'postgres'] as const;
/** `map_broker.type` values Gyre runs (map subscriptions are in memory only). */
export const SUPPORTED_MAP_BROKER_TYPES = ['memory'] as const;
/** `consumers[].type` values Gyre runs. */
export const SUPPORTED_CONSUMER_TYPES = ['postgresql', 'nats_jetstream', 'redis_stream'] as const;

type Fail = (message: string) => void;

/**
 * Every start-up problem of `config`, each as `"<key path>: <problem>"`; empty when the server can
 * start with it (as far as configuration goes: ports, services and databases are not contacted).
 */
export function startupProblems(config: Config): string[] {
  const out: string[] = [];
  const fail: Fail = (m) => out.push(m);
  const c = config;

  // ---- features Gyre does not have ----
  const brokerType = c.broker.enabled ? c.broker.type : c.engine.type;
  if (c.broker.enabled && !includes(SUPPORTED_BROKER_TYPES, c.broker.type)) {
    fail(
      `broker.type: "${c.broker.type}" is not supported by Gyre (supported: ${SUPPORTED_BROKER_TYPES.join(', ')})`,
    );
  }
  if (!includes(SUPPORTED_MAP_BROKER_TYPES, c.map_broker.type)) {
    fail(`map_broker.type: "${c.map_broker.type}" is not supported by Gyre (supported: memory)`);
  }
  c.consumers.forEach((cons, i) => {
    if (cons.enabled && !includes(SUPPORTED_CONSUMER_TYPES, cons.type)) {
      fail(
        `consumers[${i}].type: ${cons.type} consumers are not supported by Gyre (supported: ${SUPPORTED_CONSUMER_TYPES.join(', ')})`,
      );
    }
  });

  // ---- listeners ----
  if (c.http_server.tls.enabled) listenerTls('http_server.tls', c.http_server.tls, fail);
  if (c.http_server.internal_tls.enabled) {
    listenerTls('http_server.internal_tls', c.http_server.internal_tls, fail);
  }
  if (c.grpc_api.enabled && c.grpc_api.tls.enabled) listenerTls('grpc_api.tls', c.grpc_api.tls, fail);
  if (c.uni_grpc.enabled && c.uni_grpc.tls.enabled) listenerTls('uni_grpc.tls', c.uni_grpc.tls, fail);

  // ---- client connections ----
  c.client.allowed_origins.forEach((pattern, i) => {
    try {
      compileGlob(pattern.toLowerCase());
    } catch (e) {
      fail(`client.allowed_origins[${i}]: invalid pattern ${JSON.stringify(pattern)}: ${message(e)}`);
    }
  });
  tokenKeys('client.token', c.client.token, fail);
  if (c.client.subscription_token.enabled) {
    tokenKeys('client.subscription_token', c.client.subscription_token, fail);
  }

  // ---- engines ----
  const presenceType = c.presence_manager.enabled ? c.presence_manager.type : c.engine.type;
  const redisSections = new Map<string, RedisConnectionConfig>();
  if (brokerType === 'redis') {
    if (c.broker.enabled) redisSections.set('broker.redis', c.broker.redis);
    else redisSections.set('engine.redis', c.engine.redis);
  }
  if (presenceType === 'redis') {
    if (c.presence_manager.enabled) redisSections.set('presence_manager.redis', c.presence_manager.redis);
    else redisSections.set('engine.redis', c.engine.redis);
  }
  for (const [path, section] of redisSections) redisSection(path, section, fail);
  if (brokerType === 'nats') {
    natsUrls('broker.nats.url', c.broker.nats.url, fail);
    clientTls('broker.nats.tls', c.broker.nats.tls, fail);
  }
  if (brokerType === 'postgres') clientTls('broker.postgres.tls', c.broker.postgres.tls, fail);
  if (c.controller.enabled && c.controller.type === 'postgres') {
    clientTls('controller.postgres.tls', c.controller.postgres.tls, fail);
  }

  // ---- consumers ----
  c.consumers.forEach((cons, i) => {
    if (!cons.enabled) return;
    const key = `consumers[${i}]`;
    if (cons.type === 'postgresql') clientTls(`${key}.postgresql.tls`, cons.postgresql.tls, fail);
    if (cons.type === 'nats_jetstream') {
      const n = cons.nats_jetstream;
      natsUrls(`${key}.nats_jetstream.url`, n.url, fail);
      if (n.credentials_file !== '' && !readable(n.credentials_file)) {
        fail(`${key}.nats_jetstream.credentials_file: cannot read ${JSON.stringify(n.credentials_file)}`);
      }
      clientTls(`${key}.nats_jetstream.tls`, n.tls, fail);
    }
    if (cons.type === 'redis_stream') redisSection(`${key}.redis_stream`, cons.redis_stream, fail);
  });
  return out;
}

function includes(list: readonly string[], v: string): boolean {
  return list.includes(v);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Loads one PEM setting as the server does; reports the key when it cannot. */
function pem(path: string, value: string, fail: Fail): Buffer | undefined {
  try {
    return loadPem(value, path);
  } catch (e) {
    fail(message(e));
    return undefined;
  }
}

/**
 * A listener's TLS object: certificate and key are required and must load, the client CA (mTLS)
 * too when set, and together they must make a TLS context (a key that does not match its
 * certificate, or text that is not a certificate, fails here as it would at start-up).
 */
function listenerTls(path: string, tls: TLSConfig, fail: Fail): void {
  const cert = pem(`${path}.cert_pem`, tls.cert_pem, fail);
  const key = pem(`${path}.key_pem`, tls.key_pem, fail);
  const ca = tls.client_ca_pem !== '' ? pem(`${path}.client_ca_pem`, tls.client_ca_pem, fail) : undefined;
  if (cert === undefined || key === undefined || (tls.client_ca_pem !== '' && ca === undefined)) return;
  try {
    createSecureContext({ cert, key, ...(ca !== undefined ? { ca } : {}) });
  } catch (e) {
    fail(`${path}: unusable certificate or key: ${message(e)}`);
  }
}

/** An outgoing connection's TLS object: the PEMs that are set must load. */
function clientTls(path: string, tls: TLSConfig, fail: Fail): void {
  if (!tls.enabled) return;
  for (const k of ['server_ca_pem', 'cert_pem', 'key_pem'] as const) {
    if (tls[k] !== '') pem(`${path}.${k}`, tls[k], fail);
  }
}

/** Public keys must parse; a templated JWKS URL must pass the safety check. */
function tokenKeys(path: string, t: TokenConfig, fail: Fail): void {
  const keys: Array<[string, string, readonly string[]]> = [
    ['rsa_public_key', t.rsa_public_key, rsaAlgs],
    ['ecdsa_public_key', t.ecdsa_public_key, ecAlgs],
  ];
  for (const [k, value, algs] of keys) {
    if (value === '') continue;
    try {
      new PublicKeys(value, algs);
    } catch (e) {
      fail(`${path}.${k}: ${message(e)}`);
    }
  }
  if (t.jwks_public_endpoint !== '' && !t.insecure_skip_jwks_endpoint_safety_check) {
    try {
      checkJwksTemplateSafety(t.jwks_public_endpoint, [t.issuer_regex, t.audience_regex]);
    } catch (e) {
      fail(`${path}.jwks_public_endpoint: ${message(e)}`);
    }
  }
}

/** Addresses in URL form must parse; TLS PEMs must load (Sentinel's only with Sentinel addresses). */
function redisSection(path: string, r: RedisConnectionConfig, fail: Fail): void {
  const lists: Array<[string, string[]]> = [
    ['address', r.address],
    ['cluster_address', r.cluster_address],
    ['sentinel_address', r.sentinel_address],
  ];
  for (const [k, list] of lists) {
    list.forEach((entry, i) => {
      for (const a of entry.split(',').map((s) => s.trim())) {
        if (/^(rediss?|unix|redis\+unix):\/\//.test(a) && !URL.canParse(a)) {
          fail(`${path}.${k}[${i}]: not a valid URL: ${JSON.stringify(a)}`);
        }
      }
    });
  }
  clientTls(`${path}.tls`, r.tls, fail);
  if (r.sentinel_address.length > 0) clientTls(`${path}.sentinel_tls`, r.sentinel_tls, fail);
}

/**
 * NATS server URLs (comma separated): what the NATS client parses. A scheme is optional, bare
 * IPv6 addresses are allowed, and `host[:port]` must make a URL.
 */
function natsUrls(path: string, value: string, fail: Fail): void {
  const entries = value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  if (entries.length === 0) fail(`${path}: required`);
  for (const u of entries) {
    if (!natsServerParses(u)) fail(`${path}: not a valid NATS server address: ${JSON.stringify(u)}`);
  }
}

/** Mirrors the NATS client's own parsing of one server address (exported for tests). */
export function natsServerParses(address: string): boolean {
  let hp = address.replace(/^.*:\/\//, '');
  // An IPv4 address written as IPv4-mapped IPv6 is used as IPv4.
  const mapped = hp.toUpperCase().indexOf('::FFFF:');
  if (mapped !== -1 && hp.includes('.')) hp = hp.slice(mapped + 7).replace(/[[\]]/g, '');
  const ipv4OrName =
    !hp.includes('[') && !hp.includes('::') && (hp.includes('.') || hp.split(':').length <= 2);
  if (!ipv4OrName && !hp.includes('[')) hp = `[${hp}]`;
  return URL.canParse(`http://${hp}`);
}
