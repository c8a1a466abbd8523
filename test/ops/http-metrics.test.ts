import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/ops/metrics.js';

/** An app with Custos's HTTP metrics hook, and its metrics. */
async function countedApp() {
  const metrics = new Metrics(
    async () => 0,
    async () => [],
  );
  const app = Fastify();
  app.addHook('onResponse', metrics.httpHook());
  app.get('/people/:id', async () => ({ ok: true }));
  app.post('/people', async (_request, reply) => reply.code(201).send({ ok: true }));
  await app.ready();
  return { app, metrics };
}

const total = (text: string, method: string, route: string, status: number) => {
  const pattern = new RegExp(
    `^custos_http_requests_total\\{method="${method}",route="${route}",status_code="${status}"\\} (\\d+)$`,
    'm',
  );
  return Number(pattern.exec(text)?.[1] ?? Number.NaN);
};

describe('custos_http_requests_total', () => {
  it('counts answers by method, route pattern and status, equal to the histogram’s count', async () => {
    const { app, metrics } = await countedApp();
    for (const id of ['a', 'b', 'c']) await app.inject(`/people/${id}`);
    await app.inject({ method: 'POST', url: '/people' });
    await app.inject('/nowhere');

    const text = await metrics.registry.metrics();
    expect(total(text, 'GET', '/people/:id', 200)).toBe(3);
    expect(total(text, 'POST', '/people', 201)).toBe(1);
    expect(total(text, 'GET', 'unmatched', 404)).toBe(1);
    expect(text).toMatch(
      /^custos_http_request_duration_seconds_count\{method="GET",route="\/people\/:id",status_code="200"\} 3$/m,
    );
    expect(text).toMatch(/^# TYPE custos_http_requests_total counter$/m);
    // Listed before the histogram, where dashboards and scrapes of earlier versions had it.
    expect(text.indexOf('# TYPE custos_http_requests_total')).toBeLessThan(
      text.indexOf('# TYPE custos_http_request_duration_seconds'),
    );
    await app.close();
  });

  it('gives every scrape the count so far, however many scrapes run at once', async () => {
    const { app, metrics } = await countedApp();
    for (let i = 0; i < 2; i++) await app.inject('/people/x');
    const together = await Promise.all([1, 2, 3].map(() => metrics.registry.metrics()));
    for (const text of together) expect(total(text, 'GET', '/people/:id', 200)).toBe(2);

    await app.inject('/people/y');
    const later = await metrics.registry.metrics();
    expect(total(later, 'GET', '/people/:id', 200)).toBe(3);
    await app.close();
  });
});
