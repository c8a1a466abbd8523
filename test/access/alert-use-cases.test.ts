import { describe, expect, it } from 'vitest';
import { onlyAlertUseCases } from '../../src/access/access.model.js';

describe('onlyAlertUseCases', () => {
  it('is true only for a request whose every use case is an alert', () => {
    expect(onlyAlertUseCases(['error-reports', 'security-alerts'])).toBe(true);
    expect(onlyAlertUseCases([{ id: 'user-subscribed-alerts' }])).toBe(true);
    expect(onlyAlertUseCases(['security-alerts', 'collaboration-invites'])).toBe(false);
    expect(onlyAlertUseCases([])).toBe(false);
  });
});
