import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findApp } from '../../src/directory/app.repository.js';
import { listMessages } from '../../src/webhooks/webhook.repository.js';
import { enqueueWebhooks } from '../../src/webhooks/webhook-dispatcher.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { exampleDirectory, importExample } from '../helpers/directory.js';
import { runCustos } from '../helpers/process.js';
import { startReceiver } from '../helpers/webhook-receiver.js';

const SECRET = `whsec_${Buffer.from('endpoint-secret-of-thirty-two-b!').toString('base64')}`;
let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let gone = false;

beforeAll(async () => {
  receiver = await startReceiver(SECRET, () => ({ status: gone ? 410 : 204 }));
  t = await createTestApp({ CUSTOS_ALLOW_PRIVATE_WEBHOOKS: 'true', CUSTOS_WORKER_POLL_MS: '10' });
  const file = exampleDirectory();
  for (const app of file.apps ?? []) app.webhook = { url: receiver.url, secret: SECRET };
  await importExample(t, file);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function until(check: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("delivery to apps' registered endpoints", () => {
  it("the in-process worker delivers an outbox message to the app's endpoint, signed with its secret", async () => {
    const appKey = exampleDirectory().apps?.[0]?.key as string;
    const [id] = await t.ctx.database.writeTransaction((trx) =>
      enqueueWebhooks(trx, [{ appKey, eventType: 'account.closed', payload: { accountId: 'x' } }]),
    );
    t.ctx.worker.poke();
    await until(() => receiver.unique.has(id as string));
    expect(receiver.arrivals.find((a) => a.id === id)?.verified).toBe(true);
  });

  it('a 410 disables the endpoint; `webhook enable` and `webhook redeliver` bring the message through', async () => {
    const appKey = exampleDirectory().apps?.[0]?.key as string;
    gone = true;
    const [id] = await t.ctx.database.writeTransaction((trx) =>
      enqueueWebhooks(trx, [{ appKey, eventType: 'account.updated', payload: { accountId: 'y' } }]),
    );
    t.ctx.worker.poke();
    await until(async () => (await findApp(t.ctx.database.db, appKey))?.webhook_disabled_at != null);
    await until(
      async () => (await listMessages(t.ctx.database.db, { appKey, status: 'dead', limit: 5 })).length > 0,
    );

    gone = false;
    const env = { DATABASE_URL: t.database.url, CUSTOS_SECRET_KEY: t.ctx.config.secretKey as string };
    const listed = await runCustos(['webhook', 'list', '--app', appKey, '--status', 'dead'], env);
    expect(listed.stdout).toContain(id);
    expect((await runCustos(['webhook', 'enable', appKey], env)).code).toBe(0);
    const redelivered = await runCustos(['webhook', 'redeliver', '--app', appKey], env);
    // Its output is a pipe here: progress comes as plain lines, no control characters.
    const lines = redelivered.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('Requeued 1 message');
    expect(lines[0]).toBe('webhook redeliver: 0/1 messages');
    expect(lines.at(-2)).toBe('webhook redeliver: 1/1 messages');
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^webhook redeliver: [01]\/1 messages$/);
    expect(redelivered.stdout).not.toContain('\r');
    expect(redelivered.stdout).not.toContain('\u001b');
    await until(() => receiver.unique.has(id as string));
  });
});
