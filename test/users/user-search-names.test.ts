import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportAccount } from '../../src/directory/import.schemas.js';
import { createTestApp, TEST_OPERATOR, type TestApp } from '../helpers/app.js';
import { exampleDirectory, getWithBearer, importExample, oauthToken, SECRETS } from '../helpers/directory.js';

const search = (query: string) => `/rest/api/3/user/search?query=${encodeURIComponent(query)}`;

/** Public names beyond ASCII, every one a member of acme-prod, where Timesheets is installed. */
const PEOPLE: ImportAccount[] = [
  { accountId: 'emile', accountType: 'atlassian', organization: 'acme', nickname: 'ÉMILE Zoë' },
  // The same name with its accents as combining marks (NFD), as some systems send it.
  {
    accountId: 'emile-nfd',
    accountType: 'atlassian',
    organization: 'acme',
    nickname: 'E\u0301mile Zoe\u0308',
  },
  { accountId: 'juergen', accountType: 'atlassian', organization: 'acme', nickname: 'Jürgen Straße' },
  { accountId: 'odysseus', accountType: 'atlassian', organization: 'acme', nickname: 'ΟΔΥΣΣΕΥΣ' },
  { accountId: 'ivan', accountType: 'atlassian', organization: 'acme', nickname: 'Иван Петров' },
];

describe('GET /rest/api/3/user/search by a public name beyond ASCII', () => {
  let t: TestApp;
  let token: string;

  beforeAll(async () => {
    t = await createTestApp();
    const file = exampleDirectory();
    file.accounts?.push(...PEOPLE);
    const acme = file.sites?.find((s) => s.id === 'acme-prod');
    acme?.members?.push(...PEOPLE.map((p) => p.accountId));
    await importExample(t, file);
    token = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
  });
  afterAll(async () => {
    await t?.close();
  });

  const found = async (query: string) => {
    const res = await getWithBearer(t, token, search(query));
    expect(res.statusCode, query).toBe(200);
    return (res.json() as { accountId: string }[]).map((u) => u.accountId).sort();
  };

  it.each(['ÉMILE Zoë', 'émile zoë', 'ÉMILE ZOË', '  Émile zoë ', 'e\u0301mile zoe\u0308'])(
    'finds both spellings of "ÉMILE Zoë" by %j, on either engine',
    async (query) => {
      expect(await found(query)).toEqual(['emile', 'emile-nfd']);
    },
  );

  it.each([
    ['JÜRGEN STRASSE', 'juergen'],
    ['jürgen straße', 'juergen'],
    ['οδυσσευς', 'odysseus'],
    ['Οδυσσευσ', 'odysseus'],
    ['иван петров', 'ivan'],
    ['ИВАН ПЕТРОВ', 'ivan'],
  ])('finds by %j without regard to case', async (query, accountId) => {
    expect(await found(query)).toEqual([accountId]);
  });

  it('still never matches a prefix or a name without its accents', async () => {
    for (const query of ['émile', 'ÉMILE Zo', 'EMILE ZOE', 'Jürgen', 'ивaн петров'])
      expect(await found(query), query).toEqual([]);
  });

  it('follows a name corrected by rectification, and forgets it when the account closes', async () => {
    await t.ctx.database.writeTransaction((trx) =>
      t.ctx.directory.rectifyWithin(trx, 'ivan', { nickname: 'Ívar Ødegård' }, TEST_OPERATOR),
    );
    expect(await found('иван петров')).toEqual([]);
    expect(await found('ÍVAR ØDEGÅRD')).toEqual(['ivan']);

    await t.ctx.directory.closeAccount('ivan', TEST_OPERATOR);
    expect(await found('ívar ødegård')).toEqual([]);
    const row = await t.ctx.database.db
      .selectFrom('accounts')
      .select(['nickname', 'nickname_folded'])
      .where('account_id', '=', 'ivan')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ nickname: null, nickname_folded: null });
  });

  it('follows a name changed by a later import', async () => {
    const file = exampleDirectory();
    const open = PEOPLE.filter((p) => p.accountId !== 'ivan').map((p) => ({ ...p }));
    file.accounts?.push(...open);
    const juergen = file.accounts?.find((a) => a.accountId === 'juergen');
    if (juergen) juergen.nickname = 'Jörg Weiß';
    const acme = file.sites?.find((s) => s.id === 'acme-prod');
    acme?.members?.push(...open.map((p) => p.accountId));
    await importExample(t, file);
    expect(await found('JÜRGEN STRASSE')).toEqual([]);
    expect(await found('JÖRG WEISS')).toEqual(['juergen']);
  });
});
