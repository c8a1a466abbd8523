import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertAuditEvents, listAuditEvents } from '../../src/audit/audit.repository.js';
import { hashOf } from '../../src/audit/audit.service.js';
import { verifyAuditChain } from '../../src/audit/audit.verify.js';
import { CheckpointSigner, verifyCheckpointJws } from '../../src/audit/checkpoint.jws.js';
import { checkpointSigner } from '../../src/audit/checkpoint.service.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { appendEntries } from '../helpers/audit.js';
import { runCustos } from '../helpers/process.js';

let t: TestApp;
let dir: string;
let witnessFile: string;
let env: Record<string, string>;
let original: Awaited<ReturnType<typeof listAuditEvents>>;

const db = () => t.ctx.database.db;
const rows = () => listAuditEvents(db());
const verify = (file = witnessFile, ...args: string[]) =>
  runCustos(['audit', 'verify', '--batch-size', '4', '--checkpoint', file, ...args], env);
const append = (n: number) => appendEntries(t, n);
/** The claims of every checkpoint in the witness file, signatures verified. */
async function witnessed() {
  const keys = [(await checkpointSigner(t.ctx.config)()).publicJwk];
  const lines = readFileSync(witnessFile, 'utf8').trim().split('\n');
  return Promise.all(lines.map((line) => verifyCheckpointJws(JSON.parse(line).jws, keys)));
}

/** Puts back the log as it was after beforeAll: each test tampers with its own copy. */
async function restore() {
  await db().deleteFrom('audit_events').execute();
  await insertAuditEvents(db(), original);
}

/** What a forger with database access does to hide that they deleted an entry: re-chain the rest. */
async function deleteAndRechain(id: number) {
  const all = await rows();
  const at = all.findIndex((r) => Number(r.id) === id);
  await db().deleteFrom('audit_events').where('id', '=', id).execute();
  let prev = all[at - 1]?.hash as string;
  for (const { id: laterId, hash: _hash, ...fields } of all.slice(at + 1)) {
    const hash = hashOf({ ...fields, prev_hash: prev });
    await db()
      .updateTable('audit_events')
      .set({ prev_hash: Buffer.from(prev, 'hex'), hash: Buffer.from(hash, 'hex') })
      .where('id', '=', Number(laterId))
      .execute();
    prev = hash;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'custos-witness-'));
  witnessFile = join(dir, 'witness.jsonl');
  // Checkpoints on demand only: the worker's own would race with the ones the tests take.
  t = await createTestApp({
    CUSTOS_AUDIT_WITNESS_FILE: witnessFile,
    CUSTOS_AUDIT_CHECKPOINT_MINUTES: '0',
  });
  env = {
    DATABASE_URL: t.database.url,
    CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string,
    CUSTOS_AUDIT_WITNESS_FILE: witnessFile,
  };
  await append(6);
  await t.ctx.auditCheckpoints.checkpoint();
  await append(6);
  // The latest checkpoint comes from the command line, as an operator's cron job would take it.
  const cli = await runCustos(['audit', 'checkpoint'], env);
  expect(cli.code).toBe(0);
  original = await rows();
});
afterEach(restore);
afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

// Each test runs the CLI as separate processes: margins for a loaded machine.
describe('custos audit verify --checkpoint', { timeout: 120_000 }, () => {
  it('passes on an untouched log and says what the latest checkpoint covers', async () => {
    expect((await witnessed()).map((c) => [c.lastId, c.count])).toEqual([
      [Number(original[5]?.id), 6],
      [Number(original[11]?.id), 12],
    ]);
    await append(2);
    const ok = await verify();
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('Audit chain intact: 14 entries');
    expect(ok.stdout).toContain('Matches 2 checkpoint(s)');
    expect(ok.stdout).toContain('covers 12 entries');
    expect(ok.stdout).toContain('2 entries after it are not covered yet');
  });

  it('fails when the last entry is deleted, which the chain alone cannot show', async () => {
    const last = original.at(-1);
    await db().deleteFrom('audit_events').where('id', '=', Number(last?.id)).execute();
    expect((await verifyAuditChain(db())).broken).toBeUndefined();
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`the audit log ends at entry ${Number(original.at(-2)?.id)} (11 entries)`);
    expect(res.stderr).toContain('entries were cut from its end');
  });

  it('fails when the last five entries are deleted', async () => {
    const cut = Number(original.at(-5)?.id);
    await db().deleteFrom('audit_events').where('id', '>=', cut).execute();
    expect((await verifyAuditChain(db())).broken).toBeUndefined();
    const report = await verifyAuditChain(db(), 3, { checkpoints: await witnessed() });
    expect(report.checkpointsMatched).toBe(1);
    expect(report.mismatch).toMatchObject({ problem: 'log ends before it', checkpoint: { count: 12 } });
    expect(report).toMatchObject({ checked: 7, lastId: Number(original[6]?.id) });
  });

  it('fails when a middle entry is deleted and every later hash recomputed', async () => {
    await deleteAndRechain(Number(original[3]?.id));
    // The forgery is a valid chain: only the checkpoints can show it.
    expect((await verifyAuditChain(db())).broken).toBeUndefined();
    const res = await verify();
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `entry ${Number(original[5]?.id)} differs from the checkpoint signed ${(await witnessed())[0]?.at}`,
    );
    expect(res.stderr).toContain('the log up to it was rewritten');
  });

  it("fails when a checkpoint's own entry is deleted and the log goes on after it", async () => {
    await db().deleteFrom('audit_events').where('id', '>=', Number(original[5]?.id)).execute();
    // New entries chain onto what is left: the chain holds, the checkpoint's entry is gone.
    await append(3);
    const report = await verifyAuditChain(db(), 2, { checkpoints: await witnessed() });
    expect(report.broken).toBeUndefined();
    expect(report.mismatch).toMatchObject({ problem: 'entry missing', checkpoint: { count: 6 } });
  });

  it('fails when a checkpoint counts more entries than lead up to its entry', async () => {
    const [first] = await witnessed();
    if (!first) throw new Error('expected a checkpoint');
    const report = await verifyAuditChain(db(), 1000, {
      checkpoints: [{ ...first, count: first.count + 1 }],
    });
    expect(report.mismatch).toMatchObject({ problem: 'count differs' });
  });

  it('refuses a checkpoint whose payload was changed to match a cut log', async () => {
    const lines = readFileSync(witnessFile, 'utf8').trim().split('\n');
    const last = JSON.parse(lines.at(-1) as string);
    const [header, payload, signature] = last.jws.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = { ...claims, lastId: Number(original.at(-2)?.id), count: 11 };
    const forgedJws = [header, Buffer.from(JSON.stringify(forged)).toString('base64url'), signature].join(
      '.',
    );
    const file = join(dir, 'forged.jsonl');
    writeFileSync(file, `${lines.slice(0, -1).join('\n')}\n${JSON.stringify({ ...last, jws: forgedJws })}\n`);
    const res = await verify(file);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`checkpoint refused (${file}, line ${lines.length})`);
    expect(res.stderr).toContain('signature does not verify');
  });

  it('refuses a checkpoint signed by a key it was not given', async () => {
    const other = await CheckpointSigner.from(generateKeyPairSync('ed25519').privateKey);
    const file = join(dir, 'other-key.jws');
    const [real] = await witnessed();
    writeFileSync(file, `${await other.sign({ ...(real as NonNullable<typeof real>) })}\n`);
    const res = await verify(file);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`signed by key ${other.kid}, which is not among the trusted public keys`);
  });

  it('verifies with a given public key (JWK or PEM), without the private key', async () => {
    const jwkFile = join(dir, 'public.jwk');
    const pemFile = join(dir, 'public.pem');
    const [jwk, pem] = await Promise.all([
      runCustos(['audit', 'public-key'], env),
      runCustos(['audit', 'public-key', '--pem'], env),
    ]);
    expect(JSON.parse(jwk.stdout)).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(JSON.parse(jwk.stdout)).not.toHaveProperty('d');
    expect(pem.stdout).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    writeFileSync(jwkFile, jwk.stdout);
    writeFileSync(pemFile, pem.stdout);
    // A verifier's machine: the database copy and the public key, no signing key.
    const verifier = { ...env, CUSTOS_AUDIT_SIGNING_KEY_FILE: join(dir, 'absent.key') };
    const [withoutKey, withJwk, withPem] = await Promise.all([
      runCustos(['audit', 'verify', '--checkpoint', witnessFile], verifier),
      ...[jwkFile, pemFile].map((file) =>
        runCustos(['audit', 'verify', '--checkpoint', witnessFile, '--public-key', file], verifier),
      ),
    ]);
    expect(withoutKey.code).toBe(1);
    expect(withoutKey.stderr).toContain('does not exist');
    for (const res of [withJwk, withPem]) {
      expect(res?.stderr).toBe('');
      expect(res?.code).toBe(0);
    }
  });

  it('reads the checkpoints from a URL', async () => {
    let body = readFileSync(witnessFile, 'utf8');
    const server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness.jsonl`;
    try {
      expect((await verify(url)).code).toBe(0);
      body = body.split('\n')[0] as string;
      await db().deleteFrom('audit_events').where('id', '>', Number(original[3]?.id)).execute();
      const cut = await verify(url);
      expect(cut.code).toBe(1);
      expect(cut.stderr).toContain('entries were cut from its end');
    } finally {
      server.close();
    }
  });
});
