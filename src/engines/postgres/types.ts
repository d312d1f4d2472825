import type { QueryResult, QueryResultRow } from 'pg';

/** A pool or a checked-out client: what runs one query. */
export interface Queryable {
  query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}
