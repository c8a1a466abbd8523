import type { BenchScenario } from '../scenario.js';

export const GMOI_TEXT =
  'Yes, I would like to receive promotional emails including product news, events, and more from Atlassian and its affiliates.';

export const CONSENT_CLIENT = 'bench-crm@example.com';

/** One token shared by the ConsentHub scenarios; created on first use. */
let authorization: Promise<string> | undefined;
export function consentAuthorization(cli: (args: string[]) => Promise<string>): Promise<string> {
  authorization ??= cli([
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
  target: { minRatio: 0.7 },
  async setup(env) {
    const auth = await consentAuthorization(env.cli);
    const email = 'known.person@example.com';
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
    let n = 0;
    return {
      method: 'POST',
      path: '/consent-hub/consent',
      headers: { authorization: auth, 'content-type': 'application/json' },
      // A different person per request (10,000 in rotation), granting or withdrawing.
      bodyFor: () => {
        n += 1;
        return JSON.stringify({
          email: `person${n % 10_000}@example.com`,
          locale: 'DE',
          formUrl: 'https://www.example.com/newsletter',
          providerId: String(n),
          consents: [{ key: 'generalMarketingOptIn', granted: n % 2 === 0, displayedText: GMOI_TEXT }],
        });
      },
    };
  },
};
