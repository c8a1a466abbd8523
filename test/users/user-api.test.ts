import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VISIBILITIES, type Visibility } from '../../src/directory/account.model.js';
import type { ImportAccount } from '../../src/directory/import.schemas.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import {
  ACTIVE_ID,
  ADA,
  adminClient,
  CLOSED_ID,
  exampleDirectory,
  GINA,
  getAsInstallation,
  getWithBearer,
  importExample,
  oauthToken,
  SECRETS,
  userUrl,
} from '../helpers/directory.js';

let t: TestApp;
let bearer: string;

/** The profile fields the user object carries, and how each shows there. */
const USER_FIELDS = {
  email: (u: Record<string, unknown>) => u.emailAddress,
  name: (u: Record<string, unknown>) => (u.displayName === 'Full Name' ? 'Full Name' : undefined),
  avatar: (u: Record<string, unknown>) =>
    (u.avatarUrls as Record<string, string>)['48x48'] === 'https://avatars.test/me.png'
      ? 'custom'
      : undefined,
  timeZone: (u: Record<string, unknown>) => u.timeZone,
  locale: (u: Record<string, unknown>) => u.locale,
} as const;
type UserField = keyof typeof USER_FIELDS;

const matrixId = (field: string, visibility: Visibility) => `vis-${field}-${visibility}`;

function matrixAccount(field: UserField, visibility: Visibility): ImportAccount {
  return {
    accountId: matrixId(field, visibility),
    accountType: 'atlassian',
    organization: 'acme',
    email: `${field}-${visibility}@acme.test`,
    name: 'Full Name',
    nickname: 'public-name',
    avatarUrl: 'https://avatars.test/me.png',
    timeZone: 'Europe/Paris',
    locale: 'fr-FR',
    visibility: {
      email: 'public',
      name: 'public',
      avatar: 'public',
      timeZone: 'public',
      locale: 'public',
      [field]: visibility,
    },
  };
}

beforeAll(async () => {
  t = await createTestApp();
  const file = exampleDirectory();
  const matrix = (Object.keys(USER_FIELDS) as UserField[]).flatMap((f) =>
    VISIBILITIES.map((v) => matrixAccount(f, v)),
  );
  file.accounts?.push(...matrix);
  file.sites?.[0]?.members?.push(...matrix.map((a) => a.accountId));
  await importExample(t, file);
  await t.ctx.directory.closeAccount(CLOSED_ID, { type: 'operator', id: 'test' });
  bearer = await oauthToken(t, 'timesheets', SECRETS.timesheetsClient);
});
afterAll(() => t.close());

const asJwt = (path: string, claims = {}) => getAsInstallation(t, 'ts-acme-1', SECRETS.tsAcme, path, claims);

describe('GET /rest/api/3/user', () => {
  it('answers the documented user object with only public fields (the documented example)', async () => {
    const res = await asJwt(userUrl(ADA));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      self: `http://127.0.0.1:8080/rest/api/3/user?accountId=${ADA}`,
      accountId: ADA,
      accountType: 'atlassian',
      avatarUrls: {
        '16x16': 'http://127.0.0.1:8080/avatars/default.svg?size=16',
        '24x24': 'http://127.0.0.1:8080/avatars/default.svg?size=24',
        '32x32': 'http://127.0.0.1:8080/avatars/default.svg?size=32',
        '48x48': 'http://127.0.0.1:8080/avatars/default.svg?size=48',
      },
      displayName: 'Ada Lovelace',
      active: true,
      timeZone: 'Europe/London',
      locale: 'en-GB',
    });
  });

  it('falls back to the public name when the full name is hidden', async () => {
    const res = await asJwt(userUrl(ACTIVE_ID));
    expect(res.json().displayName).toBe('grace');
    // timeZone is visible to the organization only: never to apps.
    expect(res.json()).not.toHaveProperty('timeZone');
  });

  describe('visibility matrix: each field × each visibility × each kind of app caller', () => {
    const callers: [string, (path: string, accountId: string) => ReturnType<typeof asJwt>][] = [
      ['a Connect JWT', (path) => asJwt(path)],
      [
        'a Connect JWT acting as the user themself (sub)',
        (path, accountId) => asJwt(path, { sub: accountId }),
      ],
      ['an OAuth bearer token', (path) => getWithBearer(t, bearer, path)],
    ];
    const cases = callers.flatMap(([caller, call]) =>
      (Object.keys(USER_FIELDS) as UserField[]).flatMap((field) =>
        VISIBILITIES.map((visibility) => [caller, call, field, visibility] as const),
      ),
    );
    it.each(cases)('%s: %s %s', async (_caller, call, field, visibility) => {
      const accountId = matrixId(field, visibility);
      const res = await call(userUrl(accountId), accountId);
      expect(res.statusCode).toBe(200);
      const shown = USER_FIELDS[field](res.json()) !== undefined;
      expect(shown).toBe(visibility === 'public');
    });

    it.each(
      (Object.keys(USER_FIELDS) as UserField[]).flatMap((f) => VISIBILITIES.map((v) => [f, v] as const)),
    )('the admin API sees %s when %s', async (field, visibility) => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/admin/accounts/${matrixId(field, visibility)}`,
        headers: { authorization: await adminClient(t) },
      });
      expect(res.statusCode).toBe(200);
      // Every field as imported, the hidden one included (addresses are kept in lower case).
      const { email, name, nickname, avatarUrl, timeZone, locale } = matrixAccount(field, visibility);
      expect(res.json().profile).toMatchObject({
        email: email?.toLowerCase(),
        name,
        nickname,
        avatarUrl,
        timeZone,
        locale,
      });
      expect(res.json().visibility[field]).toBe(visibility);
    });
  });

  it('shows a closed account as "Former user", inactive, with nothing else', async () => {
    const res = await asJwt(userUrl(CLOSED_ID));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      self: `http://127.0.0.1:8080/rest/api/3/user?accountId=${CLOSED_ID}`,
      accountId: CLOSED_ID,
      accountType: 'atlassian',
      displayName: 'Former user',
      active: false,
    });
  });

  it('answers 404 alike for an unknown account and for one on a site the installation is not for', async () => {
    const unknown = await asJwt(userUrl('no-such-account'));
    const foreign = await asJwt(userUrl(GINA));
    expect(unknown.statusCode).toBe(404);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual(unknown.json());
    // The same app's installation on Gina's site does see her.
    const own = await getAsInstallation(t, 'ts-globex-1', SECRETS.tsGlobex, userUrl(GINA));
    expect(own.statusCode).toBe(200);
    expect((await getAsInstallation(t, 'ts-globex-1', SECRETS.tsGlobex, userUrl(ADA))).statusCode).toBe(404);
  });

  it('never builds links from the Host header: without CUSTOS_PUBLIC_URL they name the listen address', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: userUrl(ADA),
      headers: {
        authorization: `Bearer ${bearer}`,
        host: 'evil.example',
        'x-forwarded-host': 'evil.example',
      },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.self).toBe(`http://127.0.0.1:8080/rest/api/3/user?accountId=${ADA}`);
    expect(JSON.stringify(body)).not.toContain('evil.example');
  });

  it('scopes an OAuth token to the sites its app is installed on', async () => {
    expect((await getWithBearer(t, bearer, userUrl(GINA))).statusCode).toBe(200);
    const mailer = await oauthToken(t, 'mailer', SECRETS.mailerClient);
    expect((await getWithBearer(t, mailer, userUrl(ADA))).statusCode).toBe(200);
    expect((await getWithBearer(t, mailer, userUrl(GINA))).statusCode).toBe(404);
  });

  it.each([
    ['no accountId', '/rest/api/3/user'],
    ['an accountId with a forbidden character', '/rest/api/3/user?accountId=a%20b'],
    ['an accountId over 128 characters', `/rest/api/3/user?accountId=${'a'.repeat(129)}`],
  ])('answers 400 to %s', async (_name, path) => {
    const res = await asJwt(path);
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe('accountId');
  });
});

describe('GET /rest/api/3/user/bulk', () => {
  const bulk = (ids: string[], extra = '') =>
    `/rest/api/3/user/bulk?${ids.map((id) => `accountId=${encodeURIComponent(id)}`).join('&')}${extra}`;

  it('pages over the users found, leaving out unknown and foreign ids', async () => {
    const res = await asJwt(bulk([ADA, 'no-such-account', GINA, ACTIVE_ID, CLOSED_ID], '&maxResults=2'));
    expect(res.statusCode).toBe(200);
    const page = res.json();
    expect(page).toMatchObject({ startAt: 0, maxResults: 2, total: 3, isLast: false });
    expect(page.values.map((u: { accountId: string }) => u.accountId)).toEqual([ADA, ACTIVE_ID]);
    const next = (
      await asJwt(bulk([ADA, 'no-such-account', GINA, ACTIVE_ID, CLOSED_ID], '&startAt=2&maxResults=2'))
    ).json();
    expect(next).toMatchObject({ startAt: 2, total: 3, isLast: true });
    expect(next.values).toEqual([
      expect.objectContaining({ accountId: CLOSED_ID, displayName: 'Former user', active: false }),
    ]);
  });

  it('filters every user in the page with the same rule', async () => {
    const res = await asJwt(
      bulk([matrixId('email', 'private'), matrixId('email', 'public')], '&maxResults=10'),
    );
    const [hidden, shown] = res.json().values;
    expect(hidden).not.toHaveProperty('emailAddress');
    expect(shown.emailAddress).toBe('email-public@acme.test');
  });

  it('answers 400 to more than 200 ids, and to none', async () => {
    const many = Array.from({ length: 201 }, (_, i) => `id-${i}`);
    expect((await asJwt(bulk(many))).statusCode).toBe(400);
    expect((await asJwt('/rest/api/3/user/bulk')).statusCode).toBe(400);
  });

  it.each(['1000001', '9007199254740993', '9223372036854775807', '100000000000000000000', '1e300'])(
    'answers 400 naming startAt to startAt=%s, rather than echoing a rounded number',
    async (startAt) => {
      const res = await asJwt(bulk([ADA], `&startAt=${startAt}`));
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ field: 'startAt' });
      expect(res.json().errorMessage).toContain('at most 1000000');
    },
  );

  it('answers an empty last page at the largest startAt', async () => {
    const res = await asJwt(bulk([ADA], '&startAt=1000000'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ startAt: 1_000_000, total: 1, isLast: true, values: [] });
  });
});

describe('logs', () => {
  it('never carry emails or names', () => {
    const all = t.logs.join('\n');
    expect(all).not.toContain('@acme.test');
    expect(all).not.toContain('Ada Lovelace');
  });
});

describe('compatibility', () => {
  it('accepts and ignores expand, as Jira clients may send it', async () => {
    const res = await asJwt(`${userUrl(ADA)}&expand=groups,applicationRoles`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).not.toHaveProperty('groups');
  });
});
