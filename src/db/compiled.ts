import type { CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A query for a hot path, compiled to SQL once per database instead of on every call.
 * `build` receives placeholder values; calls pass the real parameters in the same order
 * as the placeholders appear in the built query.
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
    return db.executeQuery<Row>({ ...compiled, parameters: params });
  };
}
