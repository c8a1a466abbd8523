import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditJobs } from '../../src/audit/audit.jobs.js';
import { insertAuditEvents, listAuditEvents } from '../../src/audit/audit.repository.js';
import { CheckpointSigner, verifyCheckpointJws } from '../../src/audit/checkpoint.jws.js';
import { checkpointSigner, createAuditCheckpoints } from '../../src/audit/checkpoint.service.js';
import { loadConfig } from '../../src/config.js';
import { loadSigningKey } from '../../src/crypto/signing-key.js';
import { every } from '../../src/jobs/job.model.js';
import { postSignedWebhook } from '../../src/webhooks/webhook-post.js';
import { consentClient, createTestApp, type TestApp } from '../helpers/app.js';
import { appendEntries } from '../helpers/audit.js';
import { adminClient } from '../helpers/directory.js';
import { runJob } from '../helpers/jobs.js';
import { runCustos } from '../helpers/process.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const HOUR = 3_600_000;

let t: TestApp;
let dir: string;
let witnessFile: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let admin: string;

const db = () => t.ctx.database.db;
const publicJwk = async () => (await checkpointSigner(t.ctx.config)()).publicJwk;
const append = (n: number) => appendEntries(t, n);
const witnessLines = () =>
  readFileSync(witnessFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
const post = () =>
  t.app.inject({ method: 'POST', url: '/admin/audit-checkpoints', headers: { authorization: admin } });
const list = (qs = '') =>
  t.app.inject({ method: 'GET', url: `/admin/audit-checkpoints${qs}`, headers: { authorization: admin } });
/** A second service over the same database, with its own witnesses and clock, and a captured log. */
function checkpointsWith(env: Record<string, string>) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(line) });
  const config = loadConfig({
    ...env,
    DATABASE_URL: t.database.url,
    CUSTOS_AUDIT_SIGNING_KEY_FILE: t.ctx.config.auditSigningKeyFile,
  });
  return { service: createAuditCheckpoints(config, t.ctx.database, log, postSignedWebhook), lines };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'custos-witness-'));
  witnessFile = join(dir, 'witness.jsonl');
  receiver = await startReceiver(SECRET);
  t = await createTestApp({
    CUSTOS_AUDIT_WITNESS_URL: receiver.url,
    CUSTOS_AUDIT_WITNESS_SECRET: SECRET,
    CUSTOS_AUDIT_WITNESS_FILE: witnessFile,
    CUSTOS_AUDIT_CHECKPOINT_MINUTES: '0',
  });
  admin = await adminClient(t);
  await append(4);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('POST /admin/audit-checkpoints', () => {
  it('signs where the log ends, verifiable with the public key alone', async () => {
    const res = await post();
    expect(res.statusCode).toBe(201);
    const cp = res.json();
    const events = await listAuditEvents(db());
    const last = events.at(-1);
    expect(cp).toMatchObject({
      lastId: Number(last?.id),
      lastHash: last?.hash,
      count: events.length,
      kid: (await publicJwk()).kid,
      witnessAttempts: 0,
      witnessError: null,
    });
    const claims = await verifyCheckpointJws(cp.jws, [await publicJwk()]);
    expect(claims).toEqual({
      lastId: cp.lastId,
      lastHash: cp.lastHash,
      count: cp.count,
      at: cp.at,
      kid: cp.kid,
    });
    // Creating a checkpoint is not itself an entry: the log still ends where it was signed.
    expect((await listAuditEvents(db())).length).toBe(events.length);
  });

  it('sends it to the witness URL as a signed webhook and appends it to the witness file', async () => {
    const cp = (await post()).json();
    expect(cp.urlDeliveredAt).toEqual(expect.any(String));
    expect(cp.fileWrittenAt).toEqual(expect.any(String));
    const delivery = receiver.unique.get(cp.id);
    expect(delivery?.verified).toBe(true);
    const body = delivery?.body as { type: string; data: { jws: string; lastId: number } };
    expect(body.type).toBe('audit.checkpoint');
    expect((await verifyCheckpointJws(body.data.jws, [await publicJwk()])).lastId).toBe(cp.lastId);
    const line = witnessLines().at(-1);
    expect(line).toEqual({
      id: cp.id,
      kid: cp.kid,
      lastId: cp.lastId,
      lastHash: cp.lastHash,
      count: cp.count,
      at: cp.at,
      jws: cp.jws,
    });
    expect(witnessLines()).toHaveLength(2);
  });

  it('lists checkpoints newest first, paged, for admins only', async () => {
    const page = (await list('?limit=1')).json();
    expect(page.values).toHaveLength(1);
    const rest = (await list(`?limit=10&cursor=${page.nextCursor}`)).json();
    expect(rest.nextCursor).toBeNull();
    expect(rest.values).toHaveLength(1);
    expect(rest.values[0].id).not.toBe(page.values[0].id);
    expect(rest.values[0].at <= page.values[0].at).toBe(true);
    expect((await list('?cursor=x')).statusCode).toBe(400);
    const noAuth = await t.app.inject({ method: 'GET', url: '/admin/audit-checkpoints' });
    expect(noAuth.statusCode).toBe(401);
    const { authorization } = await consentClient(t, 'crm@example.com');
    const forbidden = await t.app.inject({
      method: 'POST',
      url: '/admin/audit-checkpoints',
      headers: { authorization },
    });
    expect(forbidden.statusCode).toBe(403);
  });

  it('refuses to sign a log that no longer extends the last checkpoint', async () => {
    // Cut the log back to before the latest checkpoint's last entry.
    const { lastId } = (await list('?limit=1')).json().values[0];
    const cut = (await listAuditEvents(db())).filter((e) => Number(e.id) >= lastId);
    expect(cut.length).toBeGreaterThan(0);
    await db().deleteFrom('audit_events').where('id', '>=', lastId).execute();
    try {
      const res = await post();
      expect(res.statusCode).toBe(409);
      expect(res.json().errorMessage).toContain('does not extend the last checkpoint');
    } finally {
      await insertAuditEvents(db(), cut);
    }
    expect((await post()).statusCode).toBe(201);
  });
});

describe('witness failures and the periodic run', () => {
  it('records and logs a failed witness, without personal data, and delivers it at the next run', async () => {
    const flaky = await startReceiver(SECRET, (n) => ({ status: n === 1 ? 503 : 204 }));
    try {
      const { service, lines } = checkpointsWith({
        CUSTOS_AUDIT_WITNESS_URL: flaky.url,
        CUSTOS_AUDIT_WITNESS_SECRET: SECRET,
        CUSTOS_AUDIT_CHECKPOINT_MINUTES: '60',
      });
      await append(1);
      const cp = await service.checkpoint();
      expect(cp).toMatchObject({
        url_delivered_at: null,
        witness_attempts: 1,
        witness_error: 'url: HTTP 503',
      });
      expect(lines.join('')).toContain('audit checkpoint not witnessed; retried at the next run');
      expect(lines.join('')).not.toContain(flaky.url);
      // No new checkpoint (the log did not move since), but the witness is retried.
      expect(await service.runScheduled()).toEqual({ signed: 0, delivered: 1 });
      expect(flaky.unique.get(cp.id)?.verified).toBe(true);
      const [stored] = (await list('?limit=1')).json().values;
      expect(stored).toMatchObject({ id: cp.id, urlDeliveredAt: expect.any(String), witnessAttempts: 1 });
    } finally {
      await flaky.close();
    }
  });

  it('the scheduled job signs when the log has grown since the latest checkpoint, and not otherwise', async () => {
    const { service } = checkpointsWith({});
    const [job] = auditJobs(service, every(HOUR));
    if (!job) throw new Error('expected the audit.checkpoint job');
    expect(job).toMatchObject({ name: 'audit.checkpoint', schedule: { description: 'every 3600 s' } });
    expect(auditJobs(service, undefined)).toEqual([]);
    const count = async () => (await list('?limit=1000')).json().values.length;
    await service.create();
    const before = await count();
    expect(await runJob(job)).toEqual({ signed: 0, delivered: 0 }); // nothing appended since
    await append(1);
    expect(await runJob(job)).toEqual({ signed: 1, delivered: 0 });
    expect(await count()).toBe(before + 1);
  });

  it('raises an alarm instead of signing when the log was cut since the last checkpoint', async () => {
    const { service, lines } = checkpointsWith({ CUSTOS_AUDIT_CHECKPOINT_MINUTES: '60' });
    await append(1);
    await service.create();
    const last = (await listAuditEvents(db())).at(-1);
    if (!last) throw new Error('expected entries');
    await db().deleteFrom('audit_events').where('id', '=', Number(last.id)).execute();
    try {
      const before = (await list('?limit=1000')).json().values.length;
      // The run fails, so the job is retried and, out of attempts, listed as failed with the reason.
      await expect(service.runScheduled()).rejects.toThrow('does not extend the last checkpoint');
      expect((await list('?limit=1000')).json().values.length).toBe(before);
      expect(lines.join('')).toContain('audit checkpoint refused');
      expect(lines.join('')).toContain(`before entry ${Number(last.id)}`);
    } finally {
      await insertAuditEvents(db(), [last]);
    }
  });

  it('`custos audit checkpoint` signs, witnesses and prints the JWS on its last line', {
    timeout: 120_000,
  }, async () => {
    await append(1);
    const res = await runCustos(['audit', 'checkpoint'], {
      DATABASE_URL: t.database.url,
      CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string,
      CUSTOS_AUDIT_WITNESS_FILE: witnessFile,
    });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const out = res.stdout.trim().split('\n');
    expect(out[0]).toMatch(/^Checkpoint ckp_[0-9a-f]{32}: \d+ entries up to entry \d+/);
    expect(out[1]).toMatch(/^Witness file: written \d{4}-/);
    expect(witnessLines().at(-1)?.jws).toBe(out.at(-1));
    expect((await verifyCheckpointJws(out.at(-1) as string, [await publicJwk()])).count).toBe(
      (await listAuditEvents(db())).length,
    );
  });
});

describe('the signing key', () => {
  it('is made on first use with mode 0600, then read back; verifiers never make one', async () => {
    const keyFile = join(dir, 'keys', 'audit-signing.key');
    const names = { pem: 'PEM', file: 'KEY_FILE' };
    expect(() => loadSigningKey({ pem: undefined, keyFile, create: false }, names)).toThrow(
      `KEY_FILE (${keyFile}) does not exist`,
    );
    const made = await CheckpointSigner.from(
      loadSigningKey({ pem: undefined, keyFile, create: true }, names),
    );
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const again = await CheckpointSigner.from(
      loadSigningKey({ pem: undefined, keyFile, create: false }, names),
    );
    expect(again.kid).toBe(made.kid);
    const pem = readFileSync(keyFile, 'utf8');
    const fromEnv = await CheckpointSigner.from(
      loadSigningKey({ pem: pem.replaceAll('\n', '\\n'), keyFile: 'unused', create: false }, names),
    );
    expect(fromEnv.kid).toBe(made.kid);
  });

  it('refuses a key that is not Ed25519', () => {
    const keyFile = join(dir, 'not-a-key');
    writeFileSync(keyFile, 'hello');
    expect(() => loadSigningKey({ pem: undefined, keyFile, create: false }, { pem: 'P', file: 'F' })).toThrow(
      'must hold an Ed25519 private key',
    );
  });

  it('configuration refuses a witness URL without a secret, and a witness file beside the database', () => {
    expect(() => loadConfig({ CUSTOS_AUDIT_WITNESS_URL: 'https://witness.example/hook' })).toThrow(
      'CUSTOS_AUDIT_WITNESS_SECRET is required',
    );
    expect(() =>
      loadConfig({
        DATABASE_URL: 'sqlite:/var/lib/custos/custos.db',
        CUSTOS_AUDIT_WITNESS_FILE: '/var/lib/custos/w.jsonl',
      }),
    ).toThrow('CUSTOS_AUDIT_WITNESS_FILE must be outside the database directory');
    expect(
      loadConfig({
        DATABASE_URL: 'sqlite:/var/lib/custos/custos.db',
        CUSTOS_AUDIT_WITNESS_FILE: '/srv/witness/w.jsonl',
      }).auditWitnessFile,
    ).toBe('/srv/witness/w.jsonl');
  });
});
