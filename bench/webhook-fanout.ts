import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { type BenchEnv, importDirectory } from './scenario.js';

const APPS = 100;
const SECRET = `whsec_${Buffer.from('bench-fanout-secret-of-32-bytes!').toString('base64')}`;
const ACCOUNT = 'fanout-account';

/**
 * One closure fanned out to 100 apps, each with its own endpoint on a local receiver:
 * the time from the closure's commit (the event timestamp) to each signed delivery
 * verified by the receiver. Target: p99 < 1 s.
 */
export async function measureWebhookFanout(env: BenchEnv): Promise<string> {
  const verifier = new Webhook(SECRET);
  const latencies: number[] = [];
  let failures = 0;
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const arrived = Date.now();
      try {
        const event = verifier.verify(body, req.headers as Record<string, string>) as {
          type: string;
          timestamp: string;
        };
        if (event.type === 'account.closed') latencies.push(arrived - Date.parse(event.timestamp));
      } catch {
        failures += 1;
      }
      res.writeHead(204).end();
      if (latencies.length >= APPS) done();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  try {
    const keys = Array.from({ length: APPS }, (_, i) => `com.fanout.app${i}`);
    const file = {
      accounts: [{ accountId: ACCOUNT, accountType: 'atlassian' }],
      sites: [{ id: 'fanout-site', url: 'https://fanout.example.net', members: [ACCOUNT] }],
      apps: keys.map((key) => ({
        key,
        name: key,
        vendor: 'Bench',
        storesPersonalData: true,
        webhook: { url, secret: SECRET },
      })),
      installations: keys.map((key, i) => ({
        app: key,
        site: 'fanout-site',
        clientKey: `fanout-${i}`,
        sharedSecret: `fanout-shared-secret-${i}-0123456789abcdef0123`,
      })),
    };
    await importDirectory(env, file);
    // Let the installation notices of the import drain before the measured closure.
    await new Promise((r) => setTimeout(r, 3000));
    await env.cli(['account', 'close', ACCOUNT]);
    await Promise.race([all, new Promise((r) => setTimeout(r, 30_000))]);
  } finally {
    server.close();
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  const p99 = at(0.99);
  const verdict = latencies.length === APPS && failures === 0 && p99 < 1000 ? 'ok' : 'MISS';
  return `webhook fan-out: one closure to ${APPS} apps: ${latencies.length} delivered, ${failures} unverified; p50 ${at(0.5)} ms, p99 ${p99} ms   ${verdict} (target p99 < 1000 ms)`;
}
