/**
 * SQL of the PostgreSQL engine: tables and functions of the stream broker (`<prefix>_stream*`) and
 * of the controller (`<prefix>_control*`). Everything is idempotent (`IF NOT EXISTS`,
 * `CREATE OR REPLACE`) and is applied under an advisory lock, so nodes starting together do not
 * race. Written for PostgreSQL 15 (nothing here needs 16).
 *
 * Ordering without gaps: every row of an outbox table (`<prefix>_stream`, `<prefix>_control`)
 * belongs to a shard, and a writer holds its shard's row lock in `<prefix>_..._shard_lock` from
 * before it takes an id until its transaction ends. Ids of one shard are therefore handed out and
 * committed in the same order, so a reader that remembers the last id it saw per shard never
 * skips a row that commits later with a smaller id.
 */

/** Table names derive from the prefix: lower-case letters, digits and `_`, at most 30 chars. */
export const PREFIX_RE = /^[a-z_][a-z0-9_]{0,29}$/;

/** Milliseconds as a PostgreSQL interval literal. */
export function intervalMs(ms: number): string {
  return `interval '${Math.max(0, Math.round(ms))} milliseconds'`;
}

/** What the stream broker schema is generated from. */
export interface StreamSchemaOptions {
  prefix: string;
  numShards: number;
  /** `p_data` (and conn/chan info) of `<prefix>_stream_publish` are BYTEA instead of JSONB. */
  binaryData: boolean;
  /** Idempotent result TTL (ms) when a publish gives none. */
  idempotentResultTtl: number;
}

/** Shard of a channel, the same number SQL computes: `abs(hashtext(channel)) % n`. */
export const SHARD_OF_CHANNEL = (n: number): string => `(abs(hashtext(p_channel)::bigint) % ${n})::smallint`;

/** DDL + functions of the stream broker. */
export function streamSchema(o: StreamSchemaOptions): string {
  const p = o.prefix;
  const t = o.binaryData ? 'BYTEA' : 'JSONB';
  const other = o.binaryData ? 'JSONB' : 'BYTEA';
  const toBytes = (v: string): string => (o.binaryData ? v : `convert_to(${v}::text, 'UTF8')`);
  return `
CREATE TABLE IF NOT EXISTS ${p}_stream (
  id             BIGSERIAL NOT NULL,
  shard_id       SMALLINT NOT NULL,
  kind           SMALLINT NOT NULL DEFAULT 0,
  channel        TEXT NOT NULL,
  channel_offset BIGINT NOT NULL DEFAULT 0,
  epoch          TEXT NOT NULL DEFAULT '',
  data           BYTEA,
  tags           JSONB,
  client_id      TEXT,
  user_id        TEXT,
  conn_info      BYTEA,
  chan_info      BYTEA,
  use_delta      BOOLEAN NOT NULL DEFAULT FALSE,
  created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);
CREATE INDEX IF NOT EXISTS ${p}_stream_shard_id_idx ON ${p}_stream (shard_id, id);
CREATE INDEX IF NOT EXISTS ${p}_stream_channel_offset_idx ON ${p}_stream (channel, channel_offset);

CREATE TABLE IF NOT EXISTS ${p}_stream_meta (
  channel           TEXT PRIMARY KEY,
  top_offset        BIGINT NOT NULL DEFAULT 0,
  epoch             TEXT NOT NULL,
  min_offset        BIGINT NOT NULL DEFAULT 0,
  keep_size         INTEGER,
  stream_expires_at TIMESTAMPTZ,
  version           BIGINT NOT NULL DEFAULT 0,
  version_epoch     TEXT NOT NULL DEFAULT '',
  expires_at        TIMESTAMPTZ,
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ${p}_stream_meta_expires_idx ON ${p}_stream_meta (expires_at)
  WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS ${p}_stream_idempotency (
  channel         TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  result_offset   BIGINT NOT NULL,
  result_epoch    TEXT NOT NULL,
  expires_at      TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (channel, idempotency_key)
);
CREATE INDEX IF NOT EXISTS ${p}_stream_idempotency_expires_idx ON ${p}_stream_idempotency (expires_at);

CREATE TABLE IF NOT EXISTS ${p}_stream_shard_lock (shard_id SMALLINT PRIMARY KEY);
INSERT INTO ${p}_stream_shard_lock (shard_id)
  SELECT g FROM generate_series(0, ${o.numShards - 1}) AS g ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION ${p}_stream_new_epoch() RETURNS TEXT AS $$
  SELECT substr(md5(random()::text || clock_timestamp()::text), 1, 8)
$$ LANGUAGE sql VOLATILE;

-- Appends one row to the outbox (kind 0 publication, 1 join, 2 leave). A publication with
-- history (p_history_size NULL or > 0) takes the next offset of the channel stream.
CREATE OR REPLACE FUNCTION ${p}_stream_write(
  p_kind SMALLINT, p_channel TEXT, p_data BYTEA, p_tags JSONB, p_client_id TEXT, p_user_id TEXT,
  p_conn_info BYTEA, p_chan_info BYTEA, p_history_size INTEGER, p_history_ttl INTERVAL,
  p_meta_ttl INTERVAL, p_idempotency_key TEXT, p_idempotency_ttl INTERVAL, p_version BIGINT,
  p_version_epoch TEXT, p_use_delta BOOLEAN
) RETURNS TABLE(channel_offset BIGINT, epoch TEXT, suppressed BOOLEAN) AS $$
#variable_conflict use_column
DECLARE
  v_shard SMALLINT := ${SHARD_OF_CHANNEL(o.numShards)};
  v_history BOOLEAN := p_kind = 0 AND (p_history_size IS NULL OR p_history_size > 0);
  v_idem BOOLEAN := p_idempotency_key IS NOT NULL AND p_idempotency_key <> '';
  v_offset BIGINT := 0;
  v_epoch TEXT := '';
  m ${p}_stream_meta%ROWTYPE;
BEGIN
  PERFORM 1 FROM ${p}_stream_shard_lock l WHERE l.shard_id = v_shard FOR UPDATE;

  IF v_idem THEN
    SELECT i.result_offset, i.result_epoch INTO v_offset, v_epoch FROM ${p}_stream_idempotency i
      WHERE i.channel = p_channel AND i.idempotency_key = p_idempotency_key AND i.expires_at > now();
    IF FOUND THEN
      RETURN QUERY SELECT v_offset, v_epoch, TRUE;
      RETURN;
    END IF;
  END IF;

  IF v_history THEN
    SELECT * INTO m FROM ${p}_stream_meta x WHERE x.channel = p_channel FOR UPDATE;
    IF NOT FOUND THEN
      INSERT INTO ${p}_stream_meta (channel, epoch) VALUES (p_channel, ${p}_stream_new_epoch())
        ON CONFLICT (channel) DO NOTHING;
      SELECT * INTO m FROM ${p}_stream_meta x WHERE x.channel = p_channel FOR UPDATE;
    END IF;
    IF m.expires_at IS NOT NULL AND m.expires_at <= now() THEN
      -- The meta expired: the stream is lost, a new epoch starts at offset 1.
      m.epoch := ${p}_stream_new_epoch();
      m.top_offset := 0;
      m.min_offset := 0;
      m.version := 0;
      m.version_epoch := '';
      m.stream_expires_at := NULL;
      m.expires_at := NULL;
    END IF;
    IF p_version IS NOT NULL AND p_version > 0 THEN
      IF coalesce(p_version_epoch, '') = m.version_epoch AND p_version <= m.version THEN
        RETURN QUERY SELECT m.top_offset, m.epoch, TRUE;
        RETURN;
      END IF;
      m.version := p_version;
      m.version_epoch := coalesce(p_version_epoch, '');
    END IF;
    IF m.stream_expires_at IS NOT NULL AND m.stream_expires_at <= now() THEN
      m.min_offset := m.top_offset; -- publications expired: nothing before this one is retained
    END IF;
    m.top_offset := m.top_offset + 1;
    UPDATE ${p}_stream_meta x SET
      top_offset = m.top_offset, epoch = m.epoch, min_offset = m.min_offset,
      keep_size = p_history_size,
      stream_expires_at = CASE WHEN p_history_ttl IS NULL OR p_history_ttl <= interval '0'
        THEN NULL ELSE now() + p_history_ttl END,
      version = m.version, version_epoch = m.version_epoch,
      expires_at = CASE WHEN p_meta_ttl IS NULL OR p_meta_ttl <= interval '0'
        THEN m.expires_at ELSE now() + p_meta_ttl END,
      updated_at = now()
    WHERE x.channel = p_channel;
    v_offset := m.top_offset;
    v_epoch := m.epoch;
  END IF;

  INSERT INTO ${p}_stream (shard_id, kind, channel, channel_offset, epoch, data, tags, client_id,
      user_id, conn_info, chan_info, use_delta)
    VALUES (v_shard, p_kind, p_channel, v_offset, v_epoch, p_data, p_tags, p_client_id, p_user_id,
      p_conn_info, p_chan_info, coalesce(p_use_delta, FALSE) AND v_history);

  IF v_idem THEN
    INSERT INTO ${p}_stream_idempotency AS i (channel, idempotency_key, result_offset, result_epoch, expires_at)
      VALUES (p_channel, p_idempotency_key, v_offset, v_epoch,
        now() + coalesce(p_idempotency_ttl, ${intervalMs(o.idempotentResultTtl)}))
      ON CONFLICT (channel, idempotency_key) DO UPDATE SET result_offset = EXCLUDED.result_offset,
        result_epoch = EXCLUDED.result_epoch, expires_at = EXCLUDED.expires_at;
  END IF;

  PERFORM pg_notify('${p}_stream_notify', v_shard::text);
  RETURN QUERY SELECT v_offset, v_epoch, FALSE;
END;
$$ LANGUAGE plpgsql;

-- Public: publish to a channel inside the caller's transaction. Subscribers get the publication
-- once the transaction commits; a rollback publishes nothing.
DROP FUNCTION IF EXISTS ${p}_stream_publish(TEXT, ${other}, JSONB, TEXT, TEXT, ${other}, ${other},
  INTEGER, INTERVAL, INTERVAL, TEXT, INTERVAL, BIGINT, TEXT, BOOLEAN);
CREATE OR REPLACE FUNCTION ${p}_stream_publish(
  p_channel TEXT,
  p_data ${t},
  p_tags JSONB DEFAULT NULL,
  p_client_id TEXT DEFAULT NULL,
  p_user_id TEXT DEFAULT NULL,
  p_conn_info ${t} DEFAULT NULL,
  p_chan_info ${t} DEFAULT NULL,
  p_history_size INTEGER DEFAULT NULL,
  p_history_ttl INTERVAL DEFAULT NULL,
  p_meta_ttl INTERVAL DEFAULT NULL,
  p_idempotency_key TEXT DEFAULT NULL,
  p_idempotency_ttl INTERVAL DEFAULT NULL,
  p_version BIGINT DEFAULT NULL,
  p_version_epoch TEXT DEFAULT NULL,
  p_use_delta BOOLEAN DEFAULT FALSE
) RETURNS TABLE(channel_offset BIGINT, epoch TEXT, suppressed BOOLEAN) AS $$
  SELECT * FROM ${p}_stream_write(0::smallint, p_channel, ${toBytes('p_data')}, p_tags, p_client_id,
    p_user_id, ${toBytes('p_conn_info')}, ${toBytes('p_chan_info')}, p_history_size, p_history_ttl,
    p_meta_ttl, p_idempotency_key, p_idempotency_ttl, p_version, p_version_epoch, p_use_delta)
$$ LANGUAGE sql;

-- History read. The first row is the stream position: r_offset = top offset, r_epoch, r_floor =
-- offset below which nothing is retained. Publications follow (r_floor NULL). Creates the meta
-- when missing or expired, and extends its TTL when p_meta_ttl is given.
CREATE OR REPLACE FUNCTION ${p}_stream_history(
  p_channel TEXT, p_meta_ttl INTERVAL, p_after BIGINT, p_before BIGINT, p_limit INTEGER,
  p_reverse BOOLEAN, p_retention INTERVAL
) RETURNS TABLE(r_offset BIGINT, r_epoch TEXT, r_floor BIGINT, data BYTEA, tags JSONB,
  client_id TEXT, user_id TEXT, conn_info BYTEA, chan_info BYTEA) AS $$
#variable_conflict use_column
DECLARE
  m ${p}_stream_meta%ROWTYPE;
  v_floor BIGINT;
  v_ttl INTERVAL := CASE WHEN p_meta_ttl IS NULL OR p_meta_ttl <= interval '0' THEN NULL ELSE p_meta_ttl END;
BEGIN
  SELECT * INTO m FROM ${p}_stream_meta x WHERE x.channel = p_channel;
  IF NOT FOUND OR (m.expires_at IS NOT NULL AND m.expires_at <= now()) THEN
    INSERT INTO ${p}_stream_meta AS x (channel, epoch, expires_at)
      VALUES (p_channel, ${p}_stream_new_epoch(), now() + v_ttl)
      ON CONFLICT (channel) DO UPDATE SET epoch = EXCLUDED.epoch, top_offset = 0, min_offset = 0,
        keep_size = NULL, stream_expires_at = NULL, version = 0, version_epoch = '',
        expires_at = EXCLUDED.expires_at, updated_at = now()
        WHERE x.expires_at IS NOT NULL AND x.expires_at <= now();
    SELECT * INTO m FROM ${p}_stream_meta x WHERE x.channel = p_channel;
  ELSIF v_ttl IS NOT NULL AND (m.expires_at IS NULL OR m.expires_at < now() + v_ttl * 0.9) THEN
    -- Touch the meta TTL; skip it when a publisher holds the row (it sets the TTL itself).
    UPDATE ${p}_stream_meta x SET expires_at = now() + v_ttl
      WHERE x.channel IN (SELECT y.channel FROM ${p}_stream_meta y WHERE y.channel = p_channel
        FOR UPDATE SKIP LOCKED);
  END IF;

  v_floor := m.min_offset;
  IF m.stream_expires_at IS NOT NULL AND m.stream_expires_at <= now() THEN
    v_floor := m.top_offset;
  END IF;
  IF m.keep_size IS NOT NULL THEN
    v_floor := greatest(v_floor, m.top_offset - m.keep_size);
  END IF;
  RETURN QUERY SELECT m.top_offset, m.epoch, v_floor, NULL::BYTEA, NULL::JSONB, NULL::TEXT,
    NULL::TEXT, NULL::BYTEA, NULL::BYTEA;
  IF p_limit = 0 THEN
    RETURN;
  END IF;
  -- A later snapshot than the meta read: keep to offsets at or below the top reported above.
  IF p_reverse THEN
    RETURN QUERY SELECT s.channel_offset, NULL::TEXT, NULL::BIGINT, s.data, s.tags, s.client_id,
        s.user_id, s.conn_info, s.chan_info
      FROM ${p}_stream s
      WHERE s.channel = p_channel AND s.channel_offset > greatest(v_floor, p_after)
        AND s.channel_offset <= least(m.top_offset, p_before) AND s.epoch = m.epoch AND s.kind = 0
        AND s.created_at > now() - p_retention
      ORDER BY s.channel_offset DESC
      LIMIT CASE WHEN p_limit < 0 THEN NULL ELSE p_limit END;
  ELSE
    RETURN QUERY SELECT s.channel_offset, NULL::TEXT, NULL::BIGINT, s.data, s.tags, s.client_id,
        s.user_id, s.conn_info, s.chan_info
      FROM ${p}_stream s
      WHERE s.channel = p_channel AND s.channel_offset > greatest(v_floor, p_after)
        AND s.channel_offset <= least(m.top_offset, p_before) AND s.epoch = m.epoch AND s.kind = 0
        AND s.created_at > now() - p_retention
      ORDER BY s.channel_offset
      LIMIT CASE WHEN p_limit < 0 THEN NULL ELSE p_limit END;
  END IF;
END;
$$ LANGUAGE plpgsql;
`;
}

/** DDL + functions of the controller. */
export function controlSchema(prefix: string, numShards: number): string {
  const p = prefix;
  return `
CREATE TABLE IF NOT EXISTS ${p}_control (
  id         BIGSERIAL NOT NULL,
  shard_id   SMALLINT NOT NULL,
  target     TEXT NOT NULL DEFAULT '',
  data       BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
) PARTITION BY RANGE (created_at);
CREATE INDEX IF NOT EXISTS ${p}_control_shard_id_idx ON ${p}_control (shard_id, id);

CREATE TABLE IF NOT EXISTS ${p}_control_shard_lock (shard_id SMALLINT PRIMARY KEY);
INSERT INTO ${p}_control_shard_lock (shard_id)
  SELECT g FROM generate_series(0, ${numShards - 1}) AS g ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION ${p}_control_send(p_shard SMALLINT, p_target TEXT, p_data BYTEA)
RETURNS VOID AS $$
BEGIN
  PERFORM 1 FROM ${p}_control_shard_lock l WHERE l.shard_id = p_shard FOR UPDATE;
  INSERT INTO ${p}_control (shard_id, target, data) VALUES (p_shard, p_target, p_data);
  PERFORM pg_notify('${p}_control_notify', p_shard::text);
END;
$$ LANGUAGE plpgsql;
`;
}

/**
 * Reads the rows after each shard's cursor, at most `$3` per shard, in id order per shard.
 * `$1` shard ids, `$2` last seen id per shard. The broker also joins the previous stream
 * publication of rows that asked for delta.
 */
export function streamOutboxQuery(prefix: string): string {
  const p = prefix;
  return `SELECT s.shard_id, s.id, s.kind, s.channel, s.channel_offset, s.epoch, s.data, s.tags,
  s.client_id, s.user_id, s.conn_info, s.chan_info, s.use_delta,
  prev.channel_offset AS prev_offset, prev.data AS prev_data, prev.tags AS prev_tags,
  prev.client_id AS prev_client_id, prev.user_id AS prev_user_id, prev.conn_info AS prev_conn_info,
  prev.chan_info AS prev_chan_info
FROM unnest($1::smallint[], $2::bigint[]) AS c(shard, after)
CROSS JOIN LATERAL (
  SELECT * FROM ${p}_stream t WHERE t.shard_id = c.shard AND t.id > c.after ORDER BY t.id LIMIT $3
) s
LEFT JOIN LATERAL (
  SELECT * FROM ${p}_stream q
  WHERE s.use_delta AND q.channel = s.channel AND q.channel_offset = s.channel_offset - 1
    AND q.epoch = s.epoch AND q.kind = 0
  LIMIT 1
) prev ON TRUE
ORDER BY s.shard_id, s.id`;
}

/** Controller rows after each shard's cursor; data only for broadcasts and this node (`$4`). */
export function controlOutboxQuery(prefix: string): string {
  return `SELECT s.shard_id, s.id, CASE WHEN s.target = '' OR s.target = $4 THEN s.data END AS data
FROM unnest($1::smallint[], $2::bigint[]) AS c(shard, after)
CROSS JOIN LATERAL (
  SELECT * FROM ${prefix}_control t WHERE t.shard_id = c.shard AND t.id > c.after ORDER BY t.id LIMIT $3
) s
ORDER BY s.shard_id, s.id`;
}

/** Last committed id per shard (where a reader starts). */
export function cursorsQuery(table: string): string {
  return `SELECT l.shard_id, coalesce((SELECT max(t.id) FROM ${table} t WHERE t.shard_id = l.shard_id), 0) AS max_id
FROM ${table}_shard_lock l ORDER BY l.shard_id`;
}
