import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DSR_STATES,
  DSR_TYPES,
  type DsrState,
  isFinal,
  nextStates,
  ownerAndLimit,
} from '../../src/dsr/dsr.rules.js';

const state = fc.constantFrom(...DSR_STATES);

describe('the DSR workflow has no dead ends', () => {
  it('every walk along allowed transitions, whatever it chooses, ends in a final state', () => {
    fc.assert(
      fc.property(
        state,
        fc.array(fc.nat(), { minLength: DSR_STATES.length, maxLength: DSR_STATES.length }),
        (start, choices) => {
          let at: DsrState = start;
          const seen = new Set<DsrState>([at]);
          for (const choice of choices) {
            if (isFinal(at)) break;
            const options = nextStates(at);
            expect(options.length).toBeGreaterThan(0);
            at = options[choice % options.length] as DsrState;
            // No cycle: a state is never visited twice, so the walk cannot go on for ever.
            expect(seen.has(at)).toBe(false);
            seen.add(at);
          }
          expect(isFinal(at)).toBe(true);
        },
      ),
    );
  });

  it('final states have no way out', () => {
    for (const s of DSR_STATES.filter(isFinal)) expect(nextStates(s)).toEqual([]);
  });

  it('every state that is not final has an owner and a time limit, for every type', () => {
    fc.assert(
      fc.property(
        state.filter((s) => !isFinal(s)),
        fc.constantFrom(...DSR_TYPES),
        fc.date({ min: new Date('2020-01-01'), max: new Date('2040-01-01'), noInvalidDate: true }),
        fc.option(fc.date({ min: new Date('2020-01-01'), max: new Date('2040-01-01'), noInvalidDate: true })),
        (s, type, since, other) => {
          const { owner, limitAt } = ownerAndLimit(s, type, {
            since,
            dueAt: other,
            appsDeadlineAt: other,
            graceUntil: other,
          });
          expect(owner).not.toBe('none');
          expect(limitAt).toBeInstanceOf(Date);
        },
      ),
    );
  });
});
