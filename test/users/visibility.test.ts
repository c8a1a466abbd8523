import { describe, expect, it } from 'vitest';
import {
  type Account,
  VISIBILITIES,
  VISIBILITY_FIELDS,
  type VisibilityField,
  withDefaultVisibility,
} from '../../src/directory/account.model.js';
import { type Viewer, visibleProfile } from '../../src/directory/visibility.model.js';

const PROFILE_KEY: Record<VisibilityField, keyof Account['profile']> = {
  email: 'email',
  name: 'name',
  avatar: 'avatarUrl',
  jobTitle: 'jobTitle',
  department: 'department',
  organization: 'organizationId',
  location: 'location',
  timeZone: 'timeZone',
  locale: 'locale',
};

function account(field: VisibilityField, visibility: (typeof VISIBILITIES)[number]): Account {
  return {
    accountId: 'subject-1',
    accountType: 'atlassian',
    active: true,
    profile: {
      email: 'subject@acme.test',
      name: 'Subject Name',
      nickname: 'subject',
      avatarUrl: 'https://avatars.test/s.png',
      jobTitle: 'Engineer',
      department: 'R&D',
      organizationId: 'acme',
      location: 'London',
      timeZone: 'Europe/London',
      locale: 'en-GB',
    },
    visibility: withDefaultVisibility({ [field]: visibility }),
    pdUpdatedAt: '2026-11-24T00:00:00.000Z',
    closedAt: null,
  };
}

/** Who may see a field of each visibility (docs/wire-contracts.md#profile-visibility). */
const viewers: [string, Viewer, Record<(typeof VISIBILITIES)[number], boolean>][] = [
  ['an app', { kind: 'app' }, { public: true, organization: false, private: false }],
  [
    'the user themself',
    { kind: 'account', accountId: 'subject-1', organizationId: 'acme' },
    { public: true, organization: true, private: true },
  ],
  [
    'a colleague of the same organization',
    { kind: 'account', accountId: 'colleague', organizationId: 'acme' },
    { public: true, organization: true, private: false },
  ],
  [
    'someone of another organization',
    { kind: 'account', accountId: 'stranger', organizationId: 'globex' },
    { public: true, organization: false, private: false },
  ],
  [
    'someone of no organization',
    { kind: 'account', accountId: 'loner', organizationId: null },
    { public: true, organization: false, private: false },
  ],
  ['an admin', { kind: 'admin' }, { public: true, organization: true, private: true }],
];

describe('visibleProfile: the one visibility rule', () => {
  const cases = viewers.flatMap(([name, viewer, allowed]) =>
    VISIBILITY_FIELDS.flatMap((field) =>
      VISIBILITIES.map((v) => [name, field, v, viewer, allowed[v]] as const),
    ),
  );
  it.each(cases)('%s, %s %s', (_name, field, visibility, viewer, shown) => {
    const visible = visibleProfile(account(field, visibility), viewer);
    expect(visible[PROFILE_KEY[field]] !== undefined).toBe(shown);
    // The public name is always there; it stands in for a hidden full name.
    expect(visible.nickname).toBe('subject');
  });

  it('shows nothing of a closed account, to anyone', () => {
    const closed = { ...account('email', 'public'), active: false };
    for (const [, viewer] of viewers) expect(visibleProfile(closed, viewer)).toEqual({});
  });

  it('hides email by default', () => {
    expect(withDefaultVisibility().email).toBe('private');
  });
});
