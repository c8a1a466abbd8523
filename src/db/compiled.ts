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

const MAX_SHAPES = 512;

/**
 * A hot-path query whose SQL depends on the lengths of its lists (`in (?, ?, …)`): compiled
 * once per database and shape instead of on every call. `build` receives the list lengths
 * and builds with placeholder values; calls pass the real parameters in the order the
 * placeholders appear in the built query. At most MAX_SHAPES shapes are kept per database.
 */
export function compiledQueryPerShape<DB, Row, Shape extends number[]>(
  build: (db: Kysely<DB>, ...shape: Shape) => { compile(): CompiledQuery<Row> },
): (db: Kysely<DB>, shape: Shape, parameters: readonly unknown[]) => Promise<QueryResult<Row>> {
  const cache = new WeakMap<Kysely<DB>, Map<string, CompiledQuery<Row>>>();
  return (db, shape, parameters) => {
    let shapes = cache.get(db);
    if (!shapes) {
      shapes = new Map();
      cache.set(db, shapes);
    }
    const key = shape.join(',');
    let compiled = shapes.get(key);
    if (!compiled) {
      compiled = build(db, ...shape).compile();
      if (shapes.size >= MAX_SHAPES) shapes.clear();
      shapes.set(key, compiled);
    }
    return db.executeQuery<Row>({ ...compiled, parameters });
  };
}
