import type { Insertable, Kysely, Selectable } from 'kysely';
import { compiledInsert } from '../db/compiled.js';
import type { AccountPreferenceTable, ConsentReceiptTable, DB } from '../db/schema.js';

export type StoredReceipt = Selectable<ConsentReceiptTable>;
export type AccountPreference = Selectable<AccountPreferenceTable>;

export const insertReceipts = compiledInsert<DB, Insertable<ConsentReceiptTable>>(
  {
    receipt_id: true,
    request_seq: true,
    consent_key: true,
    account_id: true,
    subject_sha256: true,
    kid: true,
    format: true,
    header: true,
    payload: true,
    signature: true,
    jws: true,
    issued_at: true,
  },
  (db, rows) =>
    db
      .insertInto('consent_receipts')
      .values(rows as Insertable<ConsentReceiptTable>[])
      // A consent event has one receipt, however often its batch is retried.
      .onConflict((oc) => oc.columns(['request_seq', 'consent_key']).doNothing()),
);

export function findReceipt(db: Kysely<DB>, receiptId: string): Promise<StoredReceipt | undefined> {
  return db.selectFrom('consent_receipts').selectAll().where('receipt_id', '=', receiptId).executeTakeFirst();
}

/** A person's receipts, newest first: by account id, by the hash of their email, or both. */
export function listReceiptsOf(
  db: Kysely<DB>,
  person: { accountId?: string; emailSha256?: string },
  limit: number,
): Promise<StoredReceipt[]> {
  return db
    .selectFrom('consent_receipts')
    .selectAll()
    .where((eb) =>
      eb.or([
        ...(person.accountId === undefined ? [] : [eb('account_id', '=', person.accountId)]),
        ...(person.emailSha256 === undefined ? [] : [eb('subject_sha256', '=', person.emailSha256)]),
      ]),
    )
    .orderBy('issued_at', 'desc')
    .orderBy('receipt_id')
    .limit(limit)
    .execute();
}

export function findPreference(
  db: Kysely<DB>,
  accountId: string,
  preference: string,
): Promise<AccountPreference | undefined> {
  return db
    .selectFrom('account_preferences')
    .selectAll()
    .where('account_id', '=', accountId)
    .where('preference', '=', preference)
    .executeTakeFirst();
}

export function listPreferences(db: Kysely<DB>, accountId: string): Promise<AccountPreference[]> {
  return db
    .selectFrom('account_preferences')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('preference')
    .execute();
}

export async function upsertPreference(db: Kysely<DB>, row: AccountPreference): Promise<void> {
  await db
    .insertInto('account_preferences')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['account_id', 'preference']).doUpdateSet({
        value: row.value,
        method: row.method,
        recorded_at: row.recorded_at,
        receipt_id: row.receipt_id,
      }),
    )
    .execute();
}
