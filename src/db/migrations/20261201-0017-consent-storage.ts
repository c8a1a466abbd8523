import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * What a stored consent costs (docs/legal-rules.md#art-71-proof-of-consent). A consent event
 * names its notice (key + version) instead of repeating the notice's text: notices are never
 * edited or deleted, so the text and its SHA-256 are read from the notice and the proof
 * stays complete. The white space the person was shown around the notice's text (a grant's
 * text is compared after trimming) is kept in `text_lead` and `text_trail`, so the exact
 * text shown is rebuilt character for character. An event whose text is no registered
 * notice's (a withdrawal may carry any text) keeps its text and hash. On SQLite the table
 * becomes WITHOUT ROWID: its primary key is the table, instead of a second b-tree repeating
 * the email, key and request of every event. The audit log's account and app indexes leave
 * out the entries that name no account or app.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (!pg) await sql`SAVEPOINT consent_storage`.execute(db);
  try {
    await db.schema.alterTable('consent_events').addColumn('text_lead', 'text').execute();
    await db.schema.alterTable('consent_events').addColumn('text_trail', 'text').execute();
    await referenceNotices(db);
    if (!pg) await rebuildWithoutRowid(db);
    await indexAuditEntries(db, { onlyNamed: true });
    if (!pg) await sql`RELEASE consent_storage`.execute(db);
  } catch (error) {
    if (!pg) {
      await sql`ROLLBACK TO consent_storage`.execute(db);
      await sql`RELEASE consent_storage`.execute(db);
    }
    throw error;
  }
}

/** The JavaScript trim the API compares texts with (its white space, not SQL's). */
function margins(shown: string): { lead: string; core: string; trail: string } {
  const start = shown.length - shown.trimStart().length;
  const end = shown.trimEnd().length;
  if (end <= start) return { lead: shown, core: '', trail: '' };
  return { lead: shown.slice(0, start), core: shown.slice(start, end), trail: shown.slice(end) };
}

async function referenceNotices(db: Kysely<any>): Promise<void> {
  const notices = await db
    .selectFrom('consent_notices')
    .select(['key', 'version', 'text', 'sha256'])
    .execute();
  const byVersion = new Map(notices.map((n) => [`${n.key}\n${n.version}`, n]));
  // Events repeat a handful of texts: each distinct one is converted with one statement.
  const shown = await db
    .selectFrom('consent_events')
    .select(['key', 'notice_version', 'displayed_text', 'text_sha256'])
    .distinct()
    .where('notice_version', 'is not', null)
    .where('displayed_text', 'is not', null)
    .execute();
  for (const s of shown) {
    const notice = byVersion.get(`${s.key}\n${s.notice_version}`);
    const { lead, core, trail } = margins(s.displayed_text);
    if (!notice || core !== notice.text || s.text_sha256 !== notice.sha256) continue;
    await db
      .updateTable('consent_events')
      .set({
        displayed_text: null,
        text_sha256: null,
        text_lead: lead === '' ? null : lead,
        text_trail: trail === '' ? null : trail,
      })
      .where('key', '=', s.key)
      .where('notice_version', '=', s.notice_version)
      .where('displayed_text', '=', s.displayed_text)
      .where('text_sha256', '=', s.text_sha256)
      .execute();
  }
}

/**
 * The same table, columns and constraints as SQLite holds them (the added columns included),
 * rebuilt WITHOUT ROWID: a table's row layout is fixed when it is created.
 */
async function rebuildWithoutRowid(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{
    sql: string;
  }>`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'consent_events'`.execute(db);
  const definition = rows[0]?.sql ?? '';
  const next = definition.replace(
    /^CREATE TABLE\s+"?consent_events"?/i,
    'CREATE TABLE "consent_events_next"',
  );
  if (next === definition) throw new Error('consent_events: unexpected table definition');
  await sql.raw(`${next} WITHOUT ROWID`).execute(db);
  const columns = await sql<{ name: string }>`SELECT name FROM pragma_table_info('consent_events')`.execute(
    db,
  );
  const list = sql.join(columns.rows.map((c) => sql.ref(c.name)));
  await sql`INSERT INTO consent_events_next (${list}) SELECT ${list} FROM consent_events`.execute(db);
  await db.schema.dropTable('consent_events').execute();
  await db.schema.alterTable('consent_events_next').renameTo('consent_events').execute();
}

/**
 * The audit log's account and app indexes hold only the entries that name an account or an
 * app: most entries (every consent change through the API, for one) name neither, and a
 * query by account or app (`account_id = ?`) implies the id is not null, so both engines
 * still use them.
 */
const AUDIT_INDEXES = [
  ['audit_events_account_idx', 'account_id'],
  ['audit_events_app_idx', 'app_key'],
] as const;

async function indexAuditEntries(db: Kysely<any>, { onlyNamed }: { onlyNamed: boolean }): Promise<void> {
  for (const [name, column] of AUDIT_INDEXES) {
    await db.schema.dropIndex(name).execute();
    const index = db.schema.createIndex(name).on('audit_events').columns([column, 'id']);
    await (onlyNamed ? index.where(sql.ref(column), 'is not', null) : index).execute();
  }
}

/** Writes every referenced text back onto its event, then drops the margin columns. */
export async function down(db: Kysely<any>): Promise<void> {
  await indexAuditEntries(db, { onlyNamed: false });
  const notice = (column: string) =>
    sql`(SELECT n.${sql.ref(column)} FROM consent_notices n WHERE n.key = consent_events.key AND n.version = consent_events.notice_version)`;
  await db
    .updateTable('consent_events')
    .set({
      displayed_text: sql`coalesce(text_lead, '') || ${notice('text')} || coalesce(text_trail, '')`,
      text_sha256: notice('sha256'),
    })
    .where('displayed_text', 'is', null)
    .where('notice_version', 'is not', null)
    .execute();
  await db.schema.alterTable('consent_events').dropColumn('text_trail').execute();
  await db.schema.alterTable('consent_events').dropColumn('text_lead').execute();
}
