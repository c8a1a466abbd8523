import { randomBytes } from 'node:crypto';
import { type BenchEnv, type BenchScenario, importDirectory } from '../scenario.js';

/**
 * The user API under load, as an installed Connect app calls it: a fresh JWT per request
 * (qsh binds each URL), against a directory of 1,000 members on one site.
 */
const ACCOUNTS = 1000;
const CLIENT_KEY = 'bench-installation';
const accountId = (i: number) => `bench-${String(i).padStart(6, '0')}`;

interface Seeded {
  secret: string;
}

const seeded = new WeakMap<BenchEnv['cli'], Promise<Seeded>>();

/**
 * Imports the bench directory once per database (both scenarios share it) through `custos import`.
 * The CLI must see the server's master key (CUSTOS_SECRET_KEY or the same key file) to
 * store the installation secret the server will verify with.
 */
function seed(env: BenchEnv): Promise<Seeded> {
  const known = seeded.get(env.cli);
  if (known) return known;
  const seeding = (async () => {
    const secret = randomBytes(32).toString('base64url');
    const ids = Array.from({ length: ACCOUNTS }, (_, i) => accountId(i));
    const file = {
      organizations: [{ id: 'bench-org', name: 'Bench Org', domains: ['bench.test'] }],
      accounts: ids.map((id, i) => ({
        accountId: id,
        accountType: 'atlassian',
        organization: 'bench-org',
        email: `user${i}@bench.test`,
        name: `Bench User ${i}`,
        nickname: `user${i}`,
        timeZone: 'Europe/London',
        locale: 'en-GB',
        visibility: { email: 'private', name: i % 2 === 0 ? 'public' : 'private' },
      })),
      sites: [{ id: 'bench-site', url: 'https://bench.example.net', members: ids }],
      apps: [{ key: 'com.bench.app', name: 'Bench', vendor: 'Bench Ltd', storesPersonalData: true }],
      installations: [
        { app: 'com.bench.app', site: 'bench-site', clientKey: CLIENT_KEY, sharedSecret: secret },
      ],
    };
    await importDirectory(env, file);
    return { secret };
  })();
  seeded.set(env.cli, seeding);
  return seeding;
}

const sampleUser = {
  self: 'http://127.0.0.1:8080/rest/api/3/user?accountId=bench-000500',
  accountId: 'bench-000500',
  accountType: 'atlassian',
  avatarUrls: {
    '16x16': 'http://127.0.0.1:8080/avatars/default.svg?size=16',
    '24x24': 'http://127.0.0.1:8080/avatars/default.svg?size=24',
    '32x32': 'http://127.0.0.1:8080/avatars/default.svg?size=32',
    '48x48': 'http://127.0.0.1:8080/avatars/default.svg?size=48',
  },
  displayName: 'Bench User 500',
  active: true,
  timeZone: 'Europe/London',
  locale: 'en-GB',
};

export const singleUser: BenchScenario = {
  name: 'user API: GET /rest/api/3/user (Connect JWT)',
  async setup(env) {
    const { secret } = await seed(env);
    const path = `/rest/api/3/user?accountId=${accountId(500)}`;
    return { method: 'GET', path, connectJwt: { issuer: CLIENT_KEY, secret } };
  },
  baselineBody: sampleUser,
  target: { minRatio: 0.45 },
};

const BULK = 50;

export const bulkUsers: BenchScenario = {
  name: `user API: GET /rest/api/3/user/bulk, ${BULK} ids (Connect JWT)`,
  async setup(env) {
    const { secret } = await seed(env);
    const ids = Array.from({ length: BULK }, (_, i) => accountId(i * 17));
    const path = `/rest/api/3/user/bulk?${ids.map((id) => `accountId=${id}`).join('&')}&maxResults=${BULK}`;
    return { method: 'GET', path, connectJwt: { issuer: CLIENT_KEY, secret } };
  },
  baselineBody: {
    startAt: 0,
    maxResults: BULK,
    total: BULK,
    isLast: true,
    values: Array.from({ length: BULK }, () => sampleUser),
  },
  // Custos decides: no ratio target for bulk (50 rows read and filtered per call); recorded for trend.
  target: { minRps: 200 },
};

export const scenarios: BenchScenario[] = [singleUser, bulkUsers];
