import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConsentService } from '../../src/consent/consent.service.js';
import { applyPendingConsents } from '../../src/consent/consent-applier.js';
import { loadOptInPolicy } from '../../src/consent/opt-in-policy.js';
import { openDatabase } from '../../src/db/dialect.js';
import { openGeoIp } from '../../src/geo/geoip.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { ADA, importExample } from '../helpers/directory.js';

/**
 * The privacy centre lists a person's choices from two reads: requests still in the inbox
 * and applied events. The applier may turn a request into its event between them; here it
 * is made to, after the first read, every time.
 */
let t: TestApp;

/**
 * Runs `between` after the first query's result, once, and holds the reads back until it has
 * finished. The reads go through a database handle of their own (on SQLite, connections of
 * their own), so the applier never waits for the connection they hold.
 */
class AfterFirstQuery implements KyselyPlugin {
  ran: Promise<unknown> | undefined;
  /** The rows of the read it ran after. */
  firstRows: unknown[] | undefined;
  constructor(private readonly between: () => Promise<unknown>) {}
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (!this.ran) {
      this.firstRows = args.result.rows;
      this.ran = this.between();
      await this.ran;
    }
    return args.result;
  }
}

beforeAll(async () => {
  // No background applier: the test decides when the request is applied.
  t = await createTestApp({ CUSTOS_IN_PROCESS_WORKER: 'false' });
  await importExample(t);
});
afterAll(() => t.close());

describe("a person's own consents", () => {
  it('shows a choice the applier applies between the two reads: applied, never lost', async () => {
    const person = { accountId: ADA, email: 'ada@acme.test' };
    const version = (await t.ctx.notices.list()).find((n) => n.key === 'generalMarketingOptIn')?.version;
    await t.ctx.consent.recordOwnChoice(
      person,
      { key: 'generalMarketingOptIn', granted: true, version },
      null,
    );
    const { ctx } = t;
    const apply = new AfterFirstQuery(() => applyPendingConsents(ctx.database, ctx.audit, ctx.receipts));
    const geo = await openGeoIp();
    const policy = loadOptInPolicy();
    const reads = openDatabase(t.database.url);
    const own = await new ConsentService(
      { ...reads, db: reads.db.withPlugin(apply) },
      ctx.notices,
      ctx.inbox,
      geo,
      policy,
      ctx.receipts,
    )
      .listOwnConsents(person.email)
      .then((all) => all.find((c) => c.key === 'generalMarketingOptIn'))
      .finally(() => reads.close());
    // The applier ran after the read of the inbox, which still held the request.
    expect(apply.firstRows).toHaveLength(1);
    expect(await apply.ran).toMatchObject({ applied: 1 });
    expect(own?.choice).toMatchObject({ granted: true, pending: false });
    // And it was applied in between: the inbox holds nothing pending now.
    const pending = await ctx.database.db
      .selectFrom('consent_requests')
      .select('seq')
      .where('applied_at', 'is', null)
      .execute();
    expect(pending).toEqual([]);
  });
});
