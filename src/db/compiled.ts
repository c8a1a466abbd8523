import {
  type CompiledQuery,
  createQueryId,
  InsertQueryNode,
  type Kysely,
  PostgresAdapter,
  type QueryResult,
  sql,
  TableNode,
  ValuesNode,
} from 'kysely';

/** Runs a hot query outside any transaction on a connection of its own (see openPostgres in dialect.ts). */
export type HotQueryRunner = (sql: string, parameters: readonly unknown[]) => Promise<QueryResult<unknown>>;

const runners = new WeakMap<Kysely<unknown>, HotQueryRunner>();

/** Hot queries on `db` outside a transaction go to `run` rather than through Kysely's driver. */
export function runHotQueriesWith<DB>(db: Kysely<DB>, run: HotQueryRunner): void {
  runners.set(db as Kysely<unknown>, run);
}

/** A database's transactions → the database: they run the queries compiled for it. */
const roots = new WeakMap<object, object>();

/**
 * Lets `trx`, a transaction (or reserved connection) of `db`, run the hot queries compiled
 * for `db`: each transaction is a new query-builder instance, and without this every
 * transaction compiled its hot queries again. dialect.ts calls it for each one it opens.
 */
export function shareCompiledQueries(trx: object, db: object): void {
  roots.set(trx, db);
}

/** What a compiled query is cached under: the database, for it and all its transactions. */
function cacheKey(db: object): object {
  return roots.get(db) ?? db;
}

/** SQL text of every hot query → the name it is prepared under on each PostgreSQL connection. */
const preparedNames = new Map<string, string>();

/**
 * The statement name of a hot query's SQL, or undefined for any other SQL. PostgreSQL then
 * parses and plans it once per connection instead of on every call (see openPostgres in
 * dialect.ts); the set is small and fixed, so each connection holds only these few.
 */
export function preparedName(sql: string): string | undefined {
  return preparedNames.get(sql);
}

function nameForPreparing(sql: string): void {
  if (!preparedNames.has(sql)) preparedNames.set(sql, `custos_hot_${preparedNames.size + 1}`);
}

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
 * A query for a hot path, compiled to SQL once per database (its transactions included, see
 * shareCompiledQueries) instead of on every call.
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
  const compiled = compiledOnce((db: Kysely<DB>) => build(db).compile());
  return (db, ...params) => execute(db, compiled(db), params);
}

/**
 * A statement made once per database (its transactions included) and prepared under a name
 * on PostgreSQL: the cache behind compiledQuery and compiledInsert's JSON-rows statement.
 */
function compiledOnce<DB, Row>(
  make: (db: Kysely<DB>) => CompiledQuery<Row>,
): (db: Kysely<DB>) => CompiledQuery<Row> {
  const cache = new WeakMap<object, CompiledQuery<Row>>();
  return (db) => {
    let compiled = cache.get(cacheKey(db));
    if (!compiled) {
      compiled = make(db);
      cache.set(cacheKey(db), compiled);
      nameForPreparing(compiled.sql);
    }
    return compiled;
  };
}

/**
 * Runs a compiled hot query: a read on SQLite's read-only connection when the database has
 * one, outside a transaction on PostgreSQL's pipelined connection, else on the query builder.
 */
function execute<DB, Row>(
  db: Kysely<DB>,
  compiled: CompiledQuery<Row>,
  parameters: readonly unknown[],
): Promise<QueryResult<Row>> {
  if (compiled.query.kind === 'SelectQueryNode') {
    const rows = directReaders.get(db)?.(compiled.sql, parameters);
    if (rows) return Promise.resolve({ rows: rows as Row[] });
  }
  const run = db.isTransaction ? undefined : runners.get(db as Kysely<unknown>);
  if (run) return run(compiled.sql, parameters) as Promise<QueryResult<Row>>;
  return db.executeQuery<Row>({ ...compiled, parameters });
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
  const cache = new WeakMap<object, Map<string, CompiledQuery<Row>>>();
  return (db, shape, parameters) => {
    let shapes = cache.get(cacheKey(db));
    if (!shapes) {
      shapes = new Map();
      cache.set(cacheKey(db), shapes);
    }
    const key = shape.join(',');
    let compiled = shapes.get(key);
    if (!compiled) {
      compiled = build(db, ...shape).compile();
      if (shapes.size >= MAX_SHAPES) shapes.clear();
      shapes.set(key, compiled);
      // Prepared too, one statement per shape: a 90-row upsert parsed on every call was
      // PostgreSQL's largest cost in report-accounts. The shapes are few in practice (list
      // lengths up to the API's limits); a shape dropped above is re-used by text.
      nameForPreparing(compiled.sql);
    }
    return execute(db, compiled, parameters);
  };
}

/** Row counts a hot multi-row insert is cut into: any batch takes a few statements of these few shapes. */
const INSERT_SHAPES = [256, 64, 16, 4, 1];

/** The keys of `Row` that an insert may leave out (optional on insert: generated, defaulted). */
type OptionalKeys<Row> = {
  // biome-ignore lint/complexity/noBannedTypes: `{}` is the type with no required keys.
  [K in keyof Row]-?: {} extends Pick<Row, K> ? K : never;
}[keyof Row] &
  string;

/**
 * The columns a hot insert writes, each named once, in order. An object rather than a list,
 * so that the type checker refuses one that leaves out a column of the row type (it would be
 * written as null without a word) or names a column the type does not have. Columns the
 * table fills itself (`seq`, `id`) are left out by naming them in `Filled`, which admits
 * only columns an insert may leave out.
 */
export type InsertColumns<Row, Filled extends OptionalKeys<Row> = never> = {
  readonly [K in Exclude<keyof Row & string, Filled>]-?: true;
};

/**
 * A hot-path insert of many rows, compiled once per database (on SQLite, and row count)
 * instead of on every call (building and compiling a 17-row insert cost more than SQLite
 * writing it, and SQLite prepared each new text again). `build` receives placeholder rows,
 * each with `columns` in order, and adds the table and any conflict clause; every column of
 * each row passed is written: a value left undefined is written as null, never as the
 * column's default. SQLite writes the rows in chunks of INSERT_SHAPES rows (its statements
 * run at once, in the process). PostgreSQL writes them in one statement whatever their
 * number, the rows as one JSON parameter (see jsonRowsInsert): each statement is a round
 * trip, and the consent applier's transaction waits for each behind a busy server's other
 * work.
 */
export function compiledInsert<DB, Row extends object, Filled extends OptionalKeys<Row> = never>(
  columnSet: InsertColumns<Row, Filled>,
  build: (db: Kysely<DB>, rows: Record<string, unknown>[]) => { compile(): CompiledQuery<unknown> },
): CompiledInsert<DB, Row> {
  const columns = Object.keys(columnSet);
  // Each placeholder names its row and column, so the built query's parameters can be checked.
  const placeholders = (rows: number) =>
    Array.from({ length: rows }, (_, r) => Object.fromEntries(columns.map((c) => [c, `${r}.${c}`])));
  const checked = (db: Kysely<DB>, rows: number) => {
    const sample = placeholders(rows);
    // Read before build runs: a build may change the rows it is given.
    const expected = sample.flatMap((row) => Object.values(row));
    const query = build(db, sample);
    const parameters = query.compile().parameters;
    // Each row's values must be the only parameters, row after row, in column order.
    if (parameters.length !== expected.length)
      throw new Error(
        `compiledInsert: ${parameters.length} parameters for ${rows} rows of ${columns.length} columns`,
      );
    const wrong = parameters.findIndex((value, i) => value !== expected[i]);
    if (wrong >= 0)
      throw new Error(
        `compiledInsert: parameter ${wrong + 1} is ${String(parameters[wrong])}, not ${expected[wrong]}`,
      );
    return query;
  };
  const insert = compiledQueryPerShape<DB, unknown, [rows: number]>(checked);
  const jsonStatement = compiledOnce((db: Kysely<DB>) =>
    jsonRowsInsert(db, checked(db, 1).compile(), columns),
  );
  const hotInsert = async (db: Kysely<DB>, rows: readonly Row[]) => {
    if (rows.length === 0) return;
    if (isPostgres(db)) {
      await execute(db, jsonStatement(db), [jsonRows(rows, columns)]);
      return;
    }
    let start = 0;
    for (const size of INSERT_SHAPES) {
      while (rows.length - start >= size) {
        const parameters: unknown[] = new Array(size * columns.length);
        let i = 0;
        for (let r = start; r < start + size; r++) {
          const row = rows[r] as Record<string, unknown>;
          for (const column of columns) parameters[i++] = row[column] ?? null;
        }
        await insert(db, [size], parameters);
        start += size;
      }
    }
  };
  jsonInserts.set(hotInsert, {
    id: jsonInserts.size + 1,
    statement: jsonStatement as (db: Kysely<unknown>) => CompiledQuery<unknown>,
    rows: (rows) => jsonRows(rows, columns),
  });
  return hotInsert as CompiledInsert<DB, Row>;
}

declare const compiled: unique symbol;

/** An insert made by compiledInsert: only these can be written together (insertTogether). */
export type CompiledInsert<DB, Row> = ((db: Kysely<DB>, rows: readonly Row[]) => Promise<void>) & {
  readonly [compiled]: true;
};

/** What insertTogether needs of each compiledInsert: its JSON-rows statement on PostgreSQL. */
interface JsonInsert {
  /** Names the insert in the cache key of the statements it is part of. */
  id: number;
  statement(db: Kysely<unknown>): CompiledQuery<unknown>;
  rows(rows: readonly object[]): string;
}

// A Map rather than a WeakMap: its size numbers the inserts, which are module constants.
const jsonInserts = new Map<object, JsonInsert>();

declare const part: unique symbol;

/** Rows for one compiledInsert, to be written with others by insertTogether; made by insertPart. */
export interface InsertPart<DB> {
  readonly insert: CompiledInsert<DB, never>;
  readonly rows: readonly object[];
  readonly [part]: true;
}

/** Pairs a compiledInsert with its rows, checked against the insert's row type. */
export function insertPart<DB, Row extends object>(
  insert: CompiledInsert<DB, Row>,
  rows: readonly Row[],
): InsertPart<DB> {
  return { insert, rows } as unknown as InsertPart<DB>;
}

/** Combined statements per database, by the ids of the inserts they are made of. */
const combined = new WeakMap<object, Map<string, CompiledQuery<unknown>>>();

/**
 * Writes several compiledInserts' rows, each insert's rows in their list's order, all or
 * none (in the caller's transaction). PostgreSQL: in one statement, each insert but the last a
 * data-modifying WITH query (`with w1 as (insert …), w2 as (insert …) insert …`), one JSON
 * parameter each: a transaction that writes three tables waits for one round trip instead of
 * three. PostgreSQL does not say in which order the inserts run, and they see none of each
 * other's rows, so each part must be a table of its own (refused otherwise: two parts of one
 * table would number their rows in either order) and none may depend on another's rows (a
 * trigger reading another's table); foreign keys are checked at the statement's end and do
 * see them. SQLite: one insert after another (its statements run in the process).
 */
export async function insertTogether<DB>(db: Kysely<DB>, parts: readonly InsertPart<DB>[]): Promise<void> {
  const written = parts.filter((part) => part.rows.length > 0);
  const inserts = written.map((part) => {
    const insert = jsonInserts.get(part.insert);
    if (!insert) throw new Error('insertTogether: each part must be an insert made by compiledInsert');
    return insert;
  });
  if (new Set(inserts.map((insert) => insert.id)).size < inserts.length)
    throw new Error('insertTogether: two parts write with the same insert');
  if (!isPostgres(db) || written.length < 2) {
    for (const part of written) await part.insert(db, part.rows as never[]);
    return;
  }
  const key = inserts.map((insert) => insert.id).join(',');
  let statements = combined.get(cacheKey(db));
  if (!statements) {
    statements = new Map();
    combined.set(cacheKey(db), statements);
  }
  let statement = statements.get(key);
  if (!statement) {
    statement = combinedInsert(inserts.map((insert) => insert.statement(db as Kysely<unknown>)));
    statements.set(key, statement);
    nameForPreparing(statement.sql);
  }
  await execute(
    db,
    statement,
    written.map((part, i) => inserts[i]?.rows(part.rows)),
  );
}

/** The JSON-rows inserts as one statement, the n-th insert's rows parameter n. */
function combinedInsert(statements: CompiledQuery<unknown>[]): CompiledQuery<unknown> {
  const texts = statements.map((statement, i) => {
    // Each is jsonRowsInsert's statement: its one parameter, the rows, is $1.
    const placeholders = statement.sql.match(/\$\d+/g) ?? [];
    if (placeholders.length !== 1 || placeholders[0] !== '$1')
      throw new Error(`insertTogether: insert ${i + 1} has parameters ${placeholders.join(', ')}, not $1`);
    return statement.sql.replace('$1', `$${i + 1}`);
  });
  const last = statements.at(-1) as CompiledQuery<unknown>;
  const withs = texts.slice(0, -1).map((text, i) => `w${i + 1} as (${text})`);
  return {
    ...last,
    sql: `with ${withs.join(', ')} ${texts.at(-1)}`,
    parameters: [],
    queryId: createQueryId(),
  };
}

const isPostgres = <DB>(db: Kysely<DB>) => db.getExecutor().adapter instanceof PostgresAdapter;

/**
 * `insert into t (c1, …) values ($1, …)` made `insert into t (c1, …) select c1, … from
 * json_populate_recordset(null::t, $1::json)`, its other clauses (a conflict's) kept: the
 * rows arrive as one JSON array of objects keyed by column, each value converted by the
 * column's own type, as a parameter of that type would be, and are written in the array's
 * order. One statement and one prepared plan for any number of rows, where a VALUES list
 * needs one per row count.
 */
function jsonRowsInsert<DB>(
  db: Kysely<DB>,
  oneRow: CompiledQuery<unknown>,
  columns: readonly string[],
): CompiledQuery<unknown> {
  const node = oneRow.query;
  // Only the rows' own values, column by column: an expression the build put in VALUES
  // (`lower(?)`, a constant) would be lost below.
  const plain =
    InsertQueryNode.is(node) &&
    node.values !== undefined &&
    ValuesNode.is(node.values) &&
    node.values.values.every((row) => row.kind === 'PrimitiveValueListNode') &&
    node.columns?.map((c) => c.column.name).join() === columns.join() &&
    node.into !== undefined &&
    TableNode.is(node.into);
  if (!plain)
    throw new Error('compiledInsert: the build must insert the rows’ values, as given, into a table');
  const { schema, identifier } = (node.into as TableNode).table;
  const table = schema ? `${schema.name}.${identifier.name}` : identifier.name;
  // In the array's order: the table numbers the rows as they come (an inbox's `seq`, the
  // audit chain's `id`), and that order is what the caller's list says.
  const rows = sql`select ${sql.join(columns.map((c) => sql.ref(c)))} from json_populate_recordset(null::${sql.table(table)}, ${''}::json) with ordinality as r order by r.ordinality`;
  const query = db.getExecutor().compileQuery({ ...node, values: rows.toOperationNode() }, createQueryId());
  if (query.parameters.length !== 1)
    throw new Error(`compiledInsert: ${query.parameters.length} parameters, not the rows' one`);
  return query;
}

/**
 * Rows as the JSON json_populate_recordset reads: each row an object of its `columns`, a value
 * left undefined as null, bytes as bytea's hex text (`\x…`), a date as ISO 8601 text, any
 * other object as its JSON text. Strings and numbers reach each column as the text pg sends
 * for them as parameters; the hot inserts' columns are text, integers and bytes.
 */
function jsonRows(rows: readonly object[], columns: readonly string[]): string {
  const out: Record<string, unknown>[] = new Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r] as Record<string, unknown>;
    const json: Record<string, unknown> = {};
    for (const column of columns) {
      const value = row[column];
      json[column] =
        value === undefined || value === null || typeof value !== 'object'
          ? (value ?? null)
          : value instanceof Uint8Array
            ? `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`
            : value instanceof Date
              ? value.toISOString()
              : JSON.stringify(value);
    }
    out[r] = json;
  }
  return JSON.stringify(out);
}
