import Fastify from 'fastify';

/**
 * The baseline: a bare Fastify server (no auth, no validation, no logging, no database)
 * answering each scenario's route with a body of the same JSON shape Custos returns. The
 * ratio Custos / baseline is what the targets are stated in.
 */
const bodies = JSON.parse(process.env.BENCH_BASELINE ?? '{}') as Record<
  string,
  { status: number; body: unknown }
>;
const app = Fastify({ logger: false });
for (const [name, { status, body }] of Object.entries(bodies)) {
  const handler = async (_request: unknown, reply: { code(n: number): { send(b?: unknown): unknown } }) =>
    status === 202 || body === undefined ? reply.code(status).send() : reply.code(status).send(body);
  app.get(`/baseline/${name}`, handler);
  app.post(`/baseline/${name}`, handler);
}
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
