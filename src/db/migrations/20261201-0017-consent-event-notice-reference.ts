import { type Kysely, PostgresAdapter, sql } from 'kysely';

// Frozen: this file must never import application code. Portable column types only.

/**
 * A consent event names its notice (key + version) instead of repeating the notice's text:
 * notices are never edited or deleted, so the text and its SHA-256 are read from the notice
 * and the proof stays complete. The white space the person was shown around the notice's
 * text (a grant's text is compared after trimming) is kept in `text_lead` and `text_trail`,
 * so the exact text shown is rebuilt character for character. An event whose text is no
 * registered notice's (a withdrawal may carry any text) keeps its text and hash.
 * On SQLite the table becomes WITHOUT ROWID: its primary key is the table, instead of a
 * second b-tree repeating the email, key and request of every event.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  if (!pg) await sql`SAVEPOINT consent_event_reference`.execute(db);
  try {
    await db.schema.alterTable('consent_events').addColumn('text_lead', 'text').execute();
    await db.schema.alterTable('consent_events').addColumn('text_trail', 'text').execute();
    await referenceNotices(db);
    if (!pg) await rebuildWithoutRowid(db);
    if (!pg) await sql`RELEASE consent_event_reference`.execute(db);
  } catch (error) {
    if (!pg) {
      await sql`ROLLBACK TO consent_event_reference`.execute(db);
      await sql`RELEASE consent_event_reference`.execute(db);
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

const COLUMNS = [
  'request_seq',
  'key',
  'email',
  'granted',
  'displayed_text',
  'text_sha256',
  'notice_version',
  'text_lead',
  'text_trail',
  'form_url',
  'locale',
  'provider_id',
  'client_id',
  'remote_addr',
  'user_agent',
  'received_at',
  'applied_at',
  'channel',
  'account_id',
];

async function rebuildWithoutRowid(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('consent_events_next')
    .addColumn('request_seq', 'bigint', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('granted', 'integer', (c) => c.notNull())
    .addColumn('displayed_text', 'text')
    .addColumn('text_sha256', 'text')
    .addColumn('notice_version', 'text')
    .addColumn('text_lead', 'text')
    .addColumn('text_trail', 'text')
    .addColumn('form_url', 'text')
    .addColumn('locale', 'text', (c) => c.notNull())
    .addColumn('provider_id', 'text')
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('remote_addr', 'text', (c) => c.notNull())
    .addColumn('user_agent', 'text')
    .addColumn('received_at', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull().defaultTo('api'))
    .addColumn('account_id', 'text')
    .addPrimaryKeyConstraint('consent_events_pk', ['email', 'key', 'request_seq'])
    .modifyEnd(sql`without rowid`)
    .execute();
  const columns = sql.join(COLUMNS.map((c) => sql.ref(c)));
  await sql`INSERT INTO consent_events_next (${columns}) SELECT ${columns} FROM consent_events`.execute(db);
  await db.schema.dropTable('consent_events').execute();
  await db.schema.alterTable('consent_events_next').renameTo('consent_events').execute();
}

/** Writes every referenced text back onto its event, then drops the margin columns. */
export async function down(db: Kysely<any>): Promise<void> {
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
