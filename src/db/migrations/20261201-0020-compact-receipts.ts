import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * Signed consent receipts in less space (ARCHITECTURE.md, "Consent storage"): a receipt may
 * be stored as its parts instead of the whole compact JWS. `format` names how (the codec is
 * application code, src/consent/receipt-storage.ts); `header` holds the protected header only
 * when it is not the one rebuilt from `kid`, `payload` the payload's JSON compressed,
 * `signature` the signature's raw bytes. `jws` becomes nullable: existing receipts keep it and
 * are read as they are; a row holds either `jws` or a format, never neither. `purpose` and
 * `method` only repeated what the signed payload states and no query selects rows by them,
 * so they go; they are read from the payload. The account index leaves out receipts that name
 * no account (every consent through the API); a query by account implies the id is not null.
 * On SQLite a column cannot become nullable in place: the table is rebuilt with its indexes.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (pg) {
    await db.schema
      .alterTable('consent_receipts')
      .addColumn('format', 'integer')
      .addColumn('header', 'text')
      .addColumn('payload', 'bytea')
      .addColumn('signature', 'bytea')
      .execute();
    await db.schema
      .alterTable('consent_receipts')
      .alterColumn('jws', (c) => c.dropNotNull())
      .execute();
    await db.schema.alterTable('consent_receipts').dropColumn('purpose').dropColumn('method').execute();
    await db.schema
      .alterTable('consent_receipts')
      .addCheckConstraint('consent_receipts_stored_ck', STORED)
      .execute();
    await indexAccounts(db, { onlyNamed: true });
    return;
  }
  await sql`SAVEPOINT compact_receipts`.execute(db);
  try {
    await rebuild(db, 'compact');
    await sql`RELEASE compact_receipts`.execute(db);
  } catch (error) {
    await sql`ROLLBACK TO compact_receipts`.execute(db);
    await sql`RELEASE compact_receipts`.execute(db);
    throw error;
  }
}

/** Every receipt is either the whole JWS or one stored in a format. */
const STORED = sql`jws is not null or (format is not null and payload is not null and signature is not null)`;

/** The columns both shapes of the table have, in their order. */
const KEPT = ['receipt_id', 'request_seq', 'consent_key', 'account_id', 'subject_sha256', 'kid'] as const;

/** The indexes of the table besides its primary key and unique constraint. */
const INDEXES = ['consent_receipts_account_idx', 'consent_receipts_subject_idx'];

async function indexAccounts(db: Kysely<any>, { onlyNamed }: { onlyNamed: boolean }): Promise<void> {
  await db.schema.dropIndex('consent_receipts_account_idx').execute();
  const index = db.schema
    .createIndex('consent_receipts_account_idx')
    .on('consent_receipts')
    .column('account_id');
  await (onlyNamed ? index.where(sql.ref('account_id'), 'is not', null) : index).execute();
}

/**
 * SQLite: the table rebuilt in the shape `to` with every row, then its indexes. Any index
 * this migration does not know of is a reason to stop rather than lose it.
 */
async function rebuild(db: Kysely<any>, to: 'compact' | 'whole'): Promise<void> {
  const { rows } = await sql<{ name: string }>`
    SELECT name FROM sqlite_schema
     WHERE type = 'index' AND tbl_name = 'consent_receipts' AND sql IS NOT NULL`.execute(db);
  const unknown = rows.map((r) => r.name).filter((name) => !INDEXES.includes(name));
  if (unknown.length > 0) throw new Error(`consent_receipts: unexpected indexes ${unknown.join(', ')}`);

  let table = db.schema
    .createTable('consent_receipts_next')
    .addColumn('receipt_id', 'text', (c) => c.primaryKey())
    .addColumn('request_seq', 'bigint')
    .addColumn('consent_key', 'text')
    .addColumn('account_id', 'text')
    .addColumn('subject_sha256', 'text');
  table =
    to === 'compact'
      ? table
          .addColumn('kid', 'text', (c) => c.notNull())
          .addColumn('format', 'integer')
          .addColumn('header', 'text')
          .addColumn('payload', 'blob')
          .addColumn('signature', 'blob')
          .addColumn('jws', 'text')
          .addColumn('issued_at', 'text', (c) => c.notNull())
          .addCheckConstraint('consent_receipts_stored_ck', STORED)
      : table
          .addColumn('purpose', 'text', (c) => c.notNull())
          .addColumn('method', 'text', (c) => c.notNull())
          .addColumn('kid', 'text', (c) => c.notNull())
          .addColumn('jws', 'text', (c) => c.notNull())
          .addColumn('issued_at', 'text', (c) => c.notNull());
  await table.addUniqueConstraint('consent_receipts_event_uq', ['request_seq', 'consent_key']).execute();

  const copied = [...KEPT, 'jws', 'issued_at', ...(to === 'whole' ? ['purpose', 'method'] : [])];
  const list = sql.join(copied.map((c) => sql.ref(c)));
  await sql`INSERT INTO consent_receipts_next (${list}) SELECT ${list} FROM consent_receipts`.execute(db);
  await db.schema.dropTable('consent_receipts').execute();
  await db.schema.alterTable('consent_receipts_next').renameTo('consent_receipts').execute();
  await db.schema
    .createIndex('consent_receipts_subject_idx')
    .on('consent_receipts')
    .column('subject_sha256')
    .execute();
  const account = db.schema
    .createIndex('consent_receipts_account_idx')
    .on('consent_receipts')
    .column('account_id');
  await (to === 'compact' ? account.where(sql.ref('account_id'), 'is not', null) : account).execute();
}

/**
 * Back to whole JWSs, which only works while every receipt still is one: rebuilding the JWS
 * of a receipt stored in a format needs the application's codec, which a migration may not
 * use. With such receipts present this refuses and changes nothing. `purpose` and `method`
 * are read back from each JWS's payload.
 */
export async function down(db: Kysely<any>): Promise<void> {
  const compact = await db
    .selectFrom('consent_receipts')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('jws', 'is', null)
    .executeTakeFirstOrThrow();
  if (Number(compact.n) > 0)
    throw new Error(
      `20261201-0020-compact-receipts cannot be migrated down: ${compact.n} consent receipts are stored ` +
        'compactly, and rebuilding their JWS needs the application (src/consent/receipt-storage.ts), ' +
        'which a migration does not use. Export them first; nothing was changed.',
    );
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (!pg) await sql`SAVEPOINT compact_receipts`.execute(db);
  try {
    await db.schema.alterTable('consent_receipts').addColumn('purpose', 'text').execute();
    await db.schema.alterTable('consent_receipts').addColumn('method', 'text').execute();
    await statedInPayload(db);
    if (pg) {
      await db.schema.alterTable('consent_receipts').dropConstraint('consent_receipts_stored_ck').execute();
      for (const column of ['format', 'header', 'payload', 'signature'])
        await db.schema.alterTable('consent_receipts').dropColumn(column).execute();
      for (const column of ['purpose', 'method', 'jws'])
        await db.schema
          .alterTable('consent_receipts')
          .alterColumn(column, (c) => c.setNotNull())
          .execute();
      await indexAccounts(db, { onlyNamed: false });
    } else {
      await rebuild(db, 'whole');
      await sql`RELEASE compact_receipts`.execute(db);
    }
  } catch (error) {
    if (!pg) {
      await sql`ROLLBACK TO compact_receipts`.execute(db);
      await sql`RELEASE compact_receipts`.execute(db);
    }
    throw error;
  }
}

/** Each receipt's purpose (its service) and collection method, from its JWS's payload. */
async function statedInPayload(db: Kysely<any>): Promise<void> {
  const rows = await db.selectFrom('consent_receipts').select(['receipt_id', 'jws']).execute();
  for (const row of rows) {
    const claims = JSON.parse(Buffer.from(String(row.jws).split('.')[1] ?? '', 'base64url').toString('utf8'));
    await db
      .updateTable('consent_receipts')
      .set({
        purpose: String(claims.services?.[0]?.service ?? ''),
        method: String(claims.collectionMethod ?? ''),
      })
      .where('receipt_id', '=', row.receipt_id)
      .execute();
  }
}
