import pg from 'pg';

/** The local PostgreSQL of shared/services.md (trust auth). */
export const PG_DSN = process.env.GYRE_TEST_PG_DSN ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Creates an outbox table `name` in the layout Centrifugo's `postgresql` consumer reads. */
export async function createOutboxTable(db: pg.Client, name: string): Promise<void> {
  await db.query(`CREATE TABLE ${name} (
    id BIGSERIAL PRIMARY KEY,
    method TEXT NOT NULL,
    payload JSONB NOT NULL,
    partition INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP NOT NULL
  )`);
}

/** Drops every table and function whose name starts with `<prefix>_` (test cleanup). */
export async function dropPrefix(prefix: string, dsn = PG_DSN): Promise<void> {
  const c = new pg.Client({ connectionString: dsn });
  await c.connect();
  try {
    const like = `${prefix.replaceAll('_', '\\_')}\\_%`;
    const tables = await c.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname LIKE $1
         AND NOT c.relispartition`,
      [like],
    );
    for (const { name } of tables.rows) await c.query(`DROP TABLE IF EXISTS ${name} CASCADE`);
    const fns = await c.query<{ sig: string }>(
      `SELECT p.oid::regprocedure::text AS sig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE n.nspname = current_schema() AND p.proname LIKE $1`,
      [like],
    );
    for (const { sig } of fns.rows) await c.query(`DROP FUNCTION IF EXISTS ${sig}`);
  } finally {
    await c.end();
  }
}
