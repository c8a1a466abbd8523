import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('OpenAPI description', () => {
  it('describes the app security schemes and the user, Email, OAuth and admin endpoints', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(Object.keys(doc.components.securitySchemes)).toEqual(
      expect.arrayContaining(['basic', 'connectJwt', 'oauth2']),
    );
    for (const path of [
      '/rest/api/3/user',
      '/rest/api/3/user/bulk',
      '/rest/api/3/user/email',
      '/rest/api/3/user/email/bulk',
      '/oauth/token',
      '/admin/directory/import',
      '/admin/accounts/{accountId}/close',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
    const user = doc.paths['/rest/api/3/user'].get;
    expect(user.security).toEqual([{ connectJwt: [] }, { oauth2: ['read:user'] }]);
    expect(Object.keys(user.responses)).toEqual(expect.arrayContaining(['200', '401', '403', '404']));
  });
});
