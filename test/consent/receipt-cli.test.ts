import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consentClient, GMOI_TEXT, waitForApplied } from '../helpers/app.js';
import { type ServedApp, serveTestApp } from '../helpers/browser.js';
import { runCustos } from '../helpers/process.js';

// Each test starts the CLI as a process, several times: generous on a busy two-core machine.
const CLI_TIMEOUT_MS = 180_000;

let t: ServedApp;
let auth: string;
let keysDir: string;
let work: string;

async function newReceipt(email: string): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/consent',
    headers: { authorization: auth },
    payload: {
      consents: [{ key: 'generalMarketingOptIn', granted: true, displayedText: GMOI_TEXT }],
      email,
      locale: 'DE',
    },
  });
  expect(res.statusCode).toBe(202);
  await waitForApplied(t);
  const found = await t.app.inject({
    method: 'POST',
    url: '/consent-hub/receipts/search',
    headers: { authorization: auth },
    payload: { email },
  });
  expect(found.statusCode).toBe(200);
  return found.json().receipts[0].jws;
}

function save(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

beforeAll(async () => {
  // Its own key directory: this suite rotates keys.
  keysDir = mkdtempSync(join(tmpdir(), 'custos-receipt-keys-'));
  work = mkdtempSync(join(tmpdir(), 'custos-receipts-'));
  t = await serveTestApp({ CUSTOS_RECEIPT_KEYS_DIR: keysDir });
  auth = (await consentClient(t)).authorization;
});
afterAll(async () => {
  await t?.close();
  rmSync(keysDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

describe('custos receipt', () => {
  it(
    'verify: accepts a receipt against the served JWK Set or the local keys, refuses one changed byte',
    async () => {
      const jws = await newReceipt('verify@example.com');
      const file = save('receipt.jws', `${jws}\n`);
      const env = { CUSTOS_RECEIPT_KEYS_DIR: keysDir };

      const remote = await runCustos(
        ['receipt', 'verify', file, '--jwks', `${t.baseUrl}/.well-known/jwks.json`],
        env,
      );
      expect(remote.stderr).toBe('');
      expect(remote.code).toBe(0);
      expect(remote.stdout).toMatch(
        /^Receipt [0-9a-f-]+ verifies with key \S+: generalMarketingOptIn given \(api\)/,
      );
      expect(remote.stdout).not.toContain('verify@example.com');

      const local = await runCustos(['receipt', 'verify', file], env);
      expect(local.code).toBe(0);

      const [header, payload, signature] = jws.split('.') as [string, string, string];
      const changed = `${header}.${payload.slice(0, -1)}${payload.endsWith('A') ? 'B' : 'A'}.${signature}`;
      const refused = await runCustos(['receipt', 'verify', save('changed.jws', changed)], env);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('does NOT verify');
    },
    CLI_TIMEOUT_MS,
  );

  it(
    'rotate-key: the new key signs from the next receipt and the old receipts still verify',
    async () => {
      const before = await newReceipt('before@example.com');
      const oldKid = decodeProtectedHeader(before).kid;
      const rotated = await runCustos(['receipt', 'rotate-key'], { CUSTOS_RECEIPT_KEYS_DIR: keysDir });
      expect(rotated.code).toBe(0);
      const newKid = /New receipt signing key (\S+)/.exec(rotated.stdout)?.[1];
      expect(newKid).toBeTruthy();
      expect(newKid).not.toBe(oldKid);

      // The running server signs with the new key without a restart.
      const after = await newReceipt('after@example.com');
      expect(decodeProtectedHeader(after).kid).toBe(newKid);

      const jwks = createRemoteJWKSet(new URL(`${t.baseUrl}/.well-known/jwks.json`));
      await expect(jwtVerify(before, jwks)).resolves.toBeTruthy();
      await expect(jwtVerify(after, jwks)).resolves.toBeTruthy();
      const served = (await (await fetch(`${t.baseUrl}/.well-known/jwks.json`)).json()) as {
        keys: { kid: string }[];
      };
      expect(served.keys.map((k) => k.kid)).toEqual([oldKid, newKid]);
    },
    CLI_TIMEOUT_MS,
  );
});
