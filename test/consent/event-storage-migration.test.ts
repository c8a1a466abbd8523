import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { listAuditEvents } from '../../src/audit/audit.repository.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { insertEvents, listEventsByEmail } from '../../src/consent/consent.repository.js';
import { createMigrator, migrateToLatest } from '../../src/db/migrator.js';
import type { DB } from '../../src/db/schema.js';
import { appendAsHexText } from '../helpers/audit-hex.js';
import { databasesMigratedTo } from '../helpers/migrations.js';

const BEFORE = '20261201-0016-notifications';
const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';
const GMOI_SHA256 = 'b4f4442e2eb5d197ca6ebdf073b85bce3a4561070b99beb466ceb3b599321de7';

/** A database of the release before events named their notice. */
const legacyDatabase = databasesMigratedTo(BEFORE);

/** One person's events as the table holds them. */
function storedRows(db: Kysely<DB>, email: string) {
  return db
    .selectFrom('consent_events')
    .selectAll()
    .where('email', '=', email)
    .orderBy('request_seq')
    .execute();
}

/** Events as the applier wrote them before events named their notice: the text repeated whole. */
function events(email: string) {
  const base = {
    email,
    key: 'generalMarketingOptIn',
    form_url: 'https://www.example.com/signup',
    locale: 'GB',
    provider_id: 'p-1',
    client_id: 'client-1',
    remote_addr: '203.0.113.7',
    user_agent: 'marketing-system/2.1',
    received_at: '2026-11-30T10:00:00.000Z',
    applied_at: '2026-11-30T10:00:00.004Z',
    channel: 'api' as const,
    account_id: null,
  };
  const grant = { granted: 1, text_sha256: GMOI_SHA256, notice_version: '2020-04-02' };
  return [
    // The API reference's example: the registered text with a trailing newline.
    { ...base, ...grant, request_seq: 1, displayed_text: `${GMOI_TEXT}\n` },
    // A withdrawal needs no text.
    { ...base, request_seq: 2, granted: 0, displayed_text: null, text_sha256: null, notice_version: null },
    // The privacy centre records the notice's own text, for the signed-in person.
    {
      ...base,
      ...grant,
      request_seq: 3,
      displayed_text: GMOI_TEXT,
      channel: 'privacy-centre' as const,
      client_id: 'privacy-centre',
      remote_addr: '',
      user_agent: null,
      account_id: 'acc-1',
    },
    // A withdrawal may carry a text no notice has: it is kept whole.
    {
      ...base,
      request_seq: 4,
      granted: 0,
      displayed_text: 'No thanks.',
      text_sha256: '5d1b2ed5bcb8a3f9a4e1a6a2a3ff3ac86e6a2ad3dfe8dee1e14d1bb4e4f04d5b',
      notice_version: null,
    },
    // White space at both ends, around a registered text.
    { ...base, ...grant, request_seq: 5, displayed_text: ` \t${GMOI_TEXT}\r\n\n` },
  ];
}

describe('consent events that name their notice', () => {
  it('migrates old events so that their proof reads exactly as new events of the same consents', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    await db.insertInto('consent_events').values(events('old@example.com')).execute();
    // Their audit entries, as the applier appended them (the migration leaves the log as it is),
    // stored as that release stored them.
    await appendAsHexText(
      db,
      events('old@example.com').map((e) => ({
        actor: { type: 'api-client' as const, id: e.client_id },
        action: 'consent.changed' as const,
        details: { requestSeq: e.request_seq, consentKey: e.key, granted: e.granted === 1 },
      })),
    );
    const before = await storedRows(db, 'old@example.com');

    expect((await migrateToLatest(db))[0]).toBe('20261201-0017-consent-storage');
    // New events, through the applier's repository path.
    await insertEvents(db, events('new@example.com'));

    const old = await listEventsByEmail(db, 'old@example.com');
    const fresh = await listEventsByEmail(db, 'new@example.com');
    // Every field as it was stored before, the exact text shown and its hash included.
    expect(old).toEqual(before);
    expect(fresh).toEqual(before.map((e) => ({ ...e, email: 'new@example.com' })));
    // The audit log still verifies, and is still found by its partial indexes' columns.
    const chain = await verifyAuditChain(db);
    expect(chain).toMatchObject({ checked: 5, complete: true });
    expect(chain.broken).toBeUndefined();
    expect(await listAuditEvents(db, { action: 'consent.changed' })).toHaveLength(5);

    // Stored by reference: the notice's text is not repeated, only the white space around it.
    const stored = await db
      .selectFrom('consent_events')
      .select(['email', 'request_seq', 'displayed_text', 'text_sha256', 'text_lead', 'text_trail'])
      .orderBy('email')
      .orderBy('request_seq')
      .execute();
    const expected = (email: string) => [
      { email, request_seq: 1, displayed_text: null, text_sha256: null, text_lead: null, text_trail: '\n' },
      { email, request_seq: 2, displayed_text: null, text_sha256: null, text_lead: null, text_trail: null },
      { email, request_seq: 3, displayed_text: null, text_sha256: null, text_lead: null, text_trail: null },
      {
        email,
        request_seq: 4,
        displayed_text: 'No thanks.',
        text_sha256: before[3]?.text_sha256,
        text_lead: null,
        text_trail: null,
      },
      {
        email,
        request_seq: 5,
        displayed_text: null,
        text_sha256: null,
        text_lead: ' \t',
        text_trail: '\r\n\n',
      },
    ];
    expect(stored.map((r) => ({ ...r, request_seq: Number(r.request_seq) }))).toEqual([
      ...expected('new@example.com'),
      ...expected('old@example.com'),
    ]);
  });

  it('keeps the text of an old event whose text is not its notice version', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    const grant = events('odd@example.com')[0];
    if (!grant) throw new Error('no grant to insert');
    // A row no applier wrote, but one the migration must not lose: its text is kept whole.
    await db
      .insertInto('consent_events')
      .values({ ...grant, displayed_text: 'Some other text' })
      .execute();
    await migrateToLatest(db);
    const [event] = await listEventsByEmail(db, 'odd@example.com');
    expect(event).toMatchObject({ displayed_text: 'Some other text', text_sha256: GMOI_SHA256 });
  });

  it('writes the texts back onto the events when migrated down', async () => {
    const database = await legacyDatabase();
    const db = database.db;
    await migrateToLatest(db);
    await insertEvents(db, events('down@example.com'));
    expect((await createMigrator(db).migrateTo(BEFORE)).error).toBeUndefined();
    expect(await storedRows(db, 'down@example.com')).toEqual(events('down@example.com'));
  });
});
