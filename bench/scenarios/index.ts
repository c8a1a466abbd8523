import type { BenchScenario } from '../scenario.js';
import { consentConfigGet, consentPost } from './consent.js';
import { reportAccounts } from './report-accounts.js';
import { scenarios as userApi } from './user-api.js';

/** Every scenario `npm run bench` measures, in order. */
export const scenarios: BenchScenario[] = [consentConfigGet, consentPost, ...userApi, reportAccounts];
