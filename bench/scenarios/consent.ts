import type { BenchEnv, BenchScenario } from '../scenario.js';

export const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';

export const CONSENT_CLIENT = 'bench-crm@example.com';

/** The person consent-config/get asks about. */
export const KNOWN_EMAIL = 'known.person@example.com';
/** The person whose choice flips back and forth to time 202 → visible. */
export const PROBE_EMAIL = 'probe@example.com';
/** The consent POST load rotates through this many people. */
const POST_PEOPLE = 10_000;
const postEmail = (n: number) => `person${n % POST_PEOPLE}@example.com`;

/** Every email the benchmark's requests name: the scale seeding gives each a history too. */
export function probeEmails(): string[] {
  return [KNOWN_EMAIL, PROBE_EMAIL, ...Array.from({ length: POST_PEOPLE }, (_, n) => postEmail(n))];
}

/** One token per database, shared by the ConsentHub scenarios; created on first use. */
const authorizations = new WeakMap<BenchEnv['cli'], Promise<string>>();
export function consentAuthorization(cli: BenchEnv['cli']): Promise<string> {
  let authorization = authorizations.get(cli);
  if (!authorization) {
    authorization = cli([
      'token',
      'create',
      '--email',
      CONSENT_CLIENT,
      '--scope',
      'manage:consent-hub-consent',
    ]).then(
      (out) =>
        `Basic ${Buffer.from(`${CONSENT_CLIENT}:${out.trimEnd().split('\n').pop()}`).toString('base64')}`,
    );
    authorizations.set(cli, authorization);
  }
  return authorization;
}

export const consentConfigGet: BenchScenario = {
  name: 'consent-config/get',
  baselineBody: {
    locale: 'GB',
    localeRequiresMarketingCommunicationOptIn: true,
    hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
    usersChoiceOnMarketingCommunicationOptIn: true,
  },
  target: { minRatio: 0.5, maxCpuRatio: 2 },
  async setup(env) {
    const auth = await consentAuthorization(env.cli);
    const email = KNOWN_EMAIL;
    const res = await fetch(`${env.baseUrl}/consent-hub/consent`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        email,
        locale: 'GB',
        consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      }),
    });
    if (res.status !== 202) throw new Error(`seeding consent failed: ${res.status}`);
    return {
      method: 'POST',
      path: '/consent-hub/consent-config/get',
      headers: { authorization: auth, 'content-type': 'application/json' },
      body: JSON.stringify({ email, userIp: '185.166.140.232' }),
    };
  },
};

export const consentPost: BenchScenario = {
  name: 'consent POST (durable)',
  status: 202,
  baselineBody: undefined,
  target: { minRatio: 0.35 },
  async setup(env) {
    const auth = await consentAuthorization(env.cli);
    return {
      method: 'POST',
      path: '/consent-hub/consent',
      headers: { authorization: auth, 'content-type': 'application/json' },
      // A different person per request, granting or withdrawing, in rotation.
      bodies: Array.from({ length: 2 * POST_PEOPLE }, (_, i) => {
        const n = i + 1;
        return JSON.stringify({
          email: postEmail(n),
          locale: 'DE',
          formUrl: 'https://www.example.com/newsletter',
          providerId: String(n),
          consents: [{ key: 'generalMarketingOptIn', granted: n % 2 === 0, displayedText: GMOI_TEXT }],
        });
      }),
    };
  },
};
