import type { BenchScenario } from '../scenario.js';
import { consentConfigGet, consentPost } from './consent.js';

/** Every scenario `npm run bench` measures, in order. */
export const scenarios: BenchScenario[] = [consentConfigGet, consentPost];
