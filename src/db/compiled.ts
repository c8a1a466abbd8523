import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * Runs a compiled read at once, outside the query builder's connection queue: SQLite's
 * read-only second connection (see dialect.ts). Returns undefined when it cannot answer
 * now (the database is busy recovering), and the query takes the ordinary path instead.
 */
export type DirectReader = (sql: string, parameters: readonly unknown[]) => unknown[] | undefined;

const directReaders = new WeakMap<object, DirectReader>();

/** Lets compiled reads on `db` (not on its transactions) go through `reader`. */
export function registerDirectReader(db: object, reader: DirectReader): void {
  directReaders.set(db, reader);
}

/**
 * A query for a hot path, compiled to SQL once per database instead of on every call.
 * `build` receives placeholder values; calls pass the real parameters in the same order
 * as the placeholders appear in the built query.
 *
 * A read on the database itself (not inside a transaction) is answered by its direct reader
 * when it has one: it sees every committed write, as the queued path does, without waiting
 * behind a write transaction that holds the connection. Inside a transaction the query runs
 * on the transaction, which sees its own uncommitted writes.
 */
export function compiledQuery<DB, Row, Params extends unknown[]>(
  build: (db: Kysely<DB>) => { compile(): CompiledQuery<Row> },
): (db: Kysely<DB>, ...params: Params) => Promise<QueryResult<Row>> {
  const cache = new WeakMap<Kysely<DB>, CompiledQuery<Row>>();
  return (db, ...params) => {
    let compiled = cache.get(db);
    if (!compiled) {
      compiled = build(db).compile();
      cache.set(db, compiled);
    }
    if (compiled.query.kind === 'SelectQueryNode') {
      const rows = directReaders.get(db)?.(compiled.sql, params);
      if (rows) return Promise.resolve({ rows: rows as Row[] });
    }
    return db.executeQuery<Row>({ ...compiled, parameters: params });
  };
}
