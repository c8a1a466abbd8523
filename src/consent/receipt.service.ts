import { randomUUID, sign } from 'node:crypto';
import type { Insertable, Kysely } from 'kysely';
import { sha256Hex } from '../crypto/digest.js';
import type { KeyRing, PublicJwk, SigningKey } from '../crypto/key-ring.js';
import { type InsertPart, insertPart } from '../db/compiled.js';
import type { Database } from '../db/dialect.js';
import type { ConsentEventTable, ConsentReceiptTable, DB } from '../db/schema.js';
import { AppError } from '../errors/app-error.js';
import { normalizeEmail } from '../shared/email.js';
import { type Controller, type ReceiptFacts, receiptClaims, receiptHeader } from './receipt.model.js';
import * as repo from './receipt.repository.js';
import { decodeReceipt, encodeReceipt, encodeSigned, type SignedParts } from './receipt-storage.js';

/** What the API answers and the privacy centre lists: the receipt and what names it. */
export interface ReceiptView {
  receiptId: string;
  purpose: string;
  method: string;
  issuedAt: string;
  kid: string;
  jws: string;
}

/**
 * A consent event as the applier writes it. Channels other than the ConsentHub API may record
 * their channel (`channel`) and the person's account (`account_id`) on the event; the receipt
 * takes both from there when present.
 */
type EventRow = Insertable<ConsentEventTable> & { channel?: string | null; account_id?: string | null };

const DEFAULT_METHOD = 'api';
const PERSON_LIMIT = 500;

/** A receipt to store: what names it, and the JWS as signed. */
export type NewReceipt = Omit<
  Insertable<ConsentReceiptTable>,
  'jws' | 'format' | 'header' | 'payload' | 'signature'
> & { kid: string; jws: string };

/** The row of a receipt, stored as receipt-storage.ts says. */
function storedRow(receipt: NewReceipt): Insertable<ConsentReceiptTable> {
  return { ...receipt, ...encodeReceipt(receipt.kid, receipt.jws) };
}

/** The stored receipt as signed; its purpose and method are those its payload states. */
export function receiptView(row: repo.StoredReceipt): ReceiptView {
  const { jws, claims } = decodeReceipt(row);
  const stated = JSON.parse(claims) as { collectionMethod?: unknown; services?: { service?: unknown }[] };
  return {
    receiptId: row.receipt_id,
    purpose: String(stated.services?.[0]?.service ?? ''),
    method: String(stated.collectionMethod ?? ''),
    issuedAt: row.issued_at,
    kid: row.kid,
    jws,
  };
}

/** What an objection covers: every marketing purpose at once. */
const DIRECT_MARKETING = 'direct-marketing';

/**
 * Signed consent receipts (GDPR art. 7(1): the controller can show consent was given; the
 * person keeps a copy nobody can alter): every consent change gets one, signed with an Ed25519
 * key outside the database and verifiable against the published JWK Set.
 */
export class ReceiptService {
  constructor(
    private readonly database: Database,
    private readonly keys: KeyRing,
    private readonly controller: Controller,
  ) {}

  /**
   * A compact JWS (RFC 7515) of the receipt's claims, its header naming the key that verifies
   * it. Built with node:crypto's Ed25519 directly: a quarter of the cost of a JOSE library's
   * signer, and the applier signs up to a batch of 500 inside its transaction.
   */
  async sign(facts: ReceiptFacts): Promise<{ kid: string; jws: string }> {
    const signer = await this.keys.signer();
    const { input, signature } = this.signWith(signer, facts);
    return { kid: signer.kid, jws: `${input}.${signature.toString('base64url')}` };
  }

  /** The signing itself, and the parts it is made of (stored as they are by receiptsForEvents). */
  private signWith(signer: SigningKey, facts: ReceiptFacts): SignedParts & { input: string } {
    const header = receiptHeader(signer.kid);
    const claims = Buffer.from(JSON.stringify(receiptClaims(facts, this.controller)), 'utf8');
    const input = `${header}.${claims.toString('base64url')}`;
    const signature = sign(null, Buffer.from(input, 'ascii'), signer.privateKey);
    return { header, claims, signature, input };
  }

  /**
   * Signs one receipt per consent event, to be stored by the caller in the statement that
   * appends the events (insertTogether): a receipt exists exactly when its event does. This is
   * the one place consent events are turned into receipts, whichever channel recorded them.
   */
  async receiptsForEvents(events: EventRow[]): Promise<InsertPart<DB>> {
    if (events.length === 0) return insertPart(repo.insertReceipts, []);
    const rows: Insertable<ConsentReceiptTable>[] = [];
    const issuedAt = new Date().toISOString();
    const key = await this.keys.signer();
    for (const event of events) {
      const receiptId = randomUUID();
      const emailSha256 = sha256Hex(normalizeEmail(event.email));
      const accountId = event.account_id ?? null;
      const method: string = event.channel ?? DEFAULT_METHOD;
      const signed = this.signWith(key, {
        receiptId,
        at: event.received_at,
        jurisdiction: event.locale,
        method,
        principal: accountId ? { accountId } : { emailSha256 },
        purpose: event.key,
        status: event.granted ? 'given' : method === 'objection' ? 'objected' : 'withdrawn',
        notice:
          event.notice_version && event.text_sha256
            ? { version: event.notice_version, textSha256: event.text_sha256 }
            : null,
        formUrl: event.form_url ?? null,
      });
      rows.push({
        receipt_id: receiptId,
        request_seq: event.request_seq,
        consent_key: event.key,
        account_id: accountId,
        subject_sha256: emailSha256,
        kid: key.kid,
        issued_at: issuedAt,
        ...encodeSigned(key.kid, signed),
      });
    }
    return insertPart(repo.insertReceipts, rows);
  }

  /**
   * The receipt of an objection to direct marketing (GDPR art. 21(3), filed as a data-subject
   * request), in the transaction that records it: the person can show they objected, and when.
   */
  async issueForObjection(
    trx: Kysely<DB>,
    objection: { accountId: string; email: string; at: string },
  ): Promise<void> {
    const receiptId = randomUUID();
    const { kid, jws } = await this.sign({
      receiptId,
      at: objection.at,
      jurisdiction: 'UNKNOWN',
      method: 'objection',
      principal: { accountId: objection.accountId },
      purpose: DIRECT_MARKETING,
      status: 'objected',
      notice: null,
      formUrl: null,
    });
    await this.store(trx, {
      receipt_id: receiptId,
      request_seq: null,
      consent_key: null,
      account_id: objection.accountId,
      subject_sha256: sha256Hex(normalizeEmail(objection.email)),
      kid,
      jws,
      issued_at: new Date().toISOString(),
    });
  }

  /** Stores a receipt signed for something other than a consent event (a preference change). */
  async store(trx: Kysely<DB>, receipt: NewReceipt): Promise<void> {
    await repo.insertReceipts(trx, [storedRow(receipt)]);
  }

  async getReceipt(receiptId: string): Promise<ReceiptView> {
    const row = await repo.findReceipt(this.database.db, receiptId);
    if (!row) throw new AppError('NOT_FOUND', `No receipt ${receiptId}`, { field: 'receiptId' });
    return receiptView(row);
  }

  /** One of the person's own receipts; anyone else's answers as unknown. */
  async getReceiptOf(accountId: string, email: string | undefined, receiptId: string): Promise<ReceiptView> {
    const row = await repo.findReceipt(this.database.db, receiptId);
    const own =
      row !== undefined &&
      (row.account_id === accountId ||
        (email !== undefined && row.subject_sha256 === sha256Hex(normalizeEmail(email))));
    if (!own) throw new AppError('NOT_FOUND', `No receipt ${receiptId}`, { field: 'receiptId' });
    return receiptView(row);
  }

  /** The person's receipts, newest first: those of their account and of their email. */
  async listReceiptsOf(accountId: string, email: string | undefined): Promise<ReceiptView[]> {
    const emailSha256 = email === undefined ? undefined : sha256Hex(normalizeEmail(email));
    const rows = await repo.listReceiptsOf(this.database.db, { accountId, emailSha256 }, PERSON_LIMIT);
    return rows.map(receiptView);
  }

  /** The receipts of the consent recorded under an email (the marketing system's view), newest first. */
  async listReceiptsByEmail(email: string): Promise<ReceiptView[]> {
    const emailSha256 = sha256Hex(normalizeEmail(email));
    const rows = await repo.listReceiptsOf(this.database.db, { emailSha256 }, PERSON_LIMIT);
    return rows.map(receiptView);
  }

  /** The JWK Set: every key that has signed a receipt, retired ones included. */
  async jwks(): Promise<{ keys: PublicJwk[] }> {
    return { keys: await this.keys.publicKeys() };
  }
}
