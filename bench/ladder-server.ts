import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyServerOptions } from 'fastify';
import pino from 'pino';
import { ConsentConfigBody, ConsentConfiguration } from '../src/consent/consent.schemas.js';
import { loggerOptions, RequestLogController, stdoutDestination } from '../src/logger.js';
import { Metrics } from '../src/ops/metrics.js';
import { coercingAjv, strictAjv } from '../src/validation.js';

/**
 * The ladder between the bare route and Custos for consent-config/get: a Fastify server
 * that answers the same fixed JSON with Custos's own request path switched on layer by
 * layer, so the bench can show what each required layer costs beside the bare route and
 * Custos. `BENCH_LADDER` picks the highest layer:
 * - `schemas`: the request body checked by Custos's strict validator against the route's
 *   schema, and the answer written by the compiled response schema;
 * - `observed`: and the request log line (Custos's logger options and log controller, on
 *   the same non-blocking stdout) and the HTTP metrics, as app.ts records them.
 * What Custos adds above the top layer is its principal check, the address's country, the
 * database read and its plugins' hooks.
 */
const layer = process.env.BENCH_LADDER;
if (layer !== 'schemas' && layer !== 'observed') throw new Error(`unknown BENCH_LADDER: ${layer}`);
const observed = layer === 'observed';

const options: FastifyServerOptions = observed
  ? {
      loggerInstance: pino(loggerOptions('info'), stdoutDestination()),
      logController: new RequestLogController(),
    }
  : { logger: false };
const app = Fastify(options).withTypeProvider<TypeBoxTypeProvider>();
app.removeContentTypeParser(['text/plain']);
app.setValidatorCompiler(({ schema, httpPart }) =>
  (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema),
);

if (observed) {
  // Nothing scrapes the ladder, so the gauges that read the database are never collected.
  const metrics = new Metrics(
    async () => 0,
    async () => [],
  );
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.raw.httpVersion === '1.1' && !request.headers.host) return done(new Error('no Host'));
    done();
  });
  app.addHook('onResponse', metrics.httpHook());
}

const answer = {
  locale: 'GB',
  localeRequiresMarketingCommunicationOptIn: true,
  hasUserMadeChoiceOnMarketingCommunicationOptIn: true,
  usersChoiceOnMarketingCommunicationOptIn: true,
};
app.post(
  '/consent-hub/consent-config/get',
  { schema: { body: ConsentConfigBody, response: { 200: ConsentConfiguration } } },
  async () => answer,
);

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${address}\n`);
// A clean exit on SIGTERM, so that `--cpu-prof` writes its profile and the log is flushed.
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
