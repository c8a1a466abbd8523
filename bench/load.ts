import { readFileSync } from 'node:fs';
import { createQueryStringHash, encodeSymmetric, fromMethodAndUrl } from 'atlassian-jwt';
import autocannon from 'autocannon';
import type { BenchRequest } from './scenario.js';

/**
 * The load generator, in a process of its own so that its CPU is never the server's nor the
 * runner's: `node --import tsx bench/load.ts <job.json>`, where the job file holds
 * `{ url, connections, seconds, request }`. It prints one JSON line `{"started":true}` as the
 * load begins, then one with the result and its own CPU time; every answer that is not 2xx
 * counts as a failure.
 */
export interface LoadJob {
  url: string;
  connections: number;
  seconds: number;
  request: BenchRequest;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  failures: number;
  /** Its own CPU time (user + system) during the load, in seconds. */
  cpuSeconds: number;
}

const job = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as LoadJob;
const { request } = job;
const jwtFor = (secret: string, issuer: string) => {
  const qsh = createQueryStringHash(fromMethodAndUrl(request.method, request.path));
  const now = Math.floor(Date.now() / 1000);
  return `JWT ${encodeSymmetric({ iss: issuer, iat: now, exp: now + 180, qsh }, secret)}`;
};
let next = 0;
const drawBody = ({ template, below, digits }: NonNullable<BenchRequest['randomBody']>) =>
  template.replace('{n}', String(Math.floor(Math.random() * below)).padStart(digits, '0'));
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
const cpuAtStart = process.cpuUsage();
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.seconds,
  requests: [
    {
      method: request.method,
      path: request.path,
      headers: request.headers,
      body: request.body,
      setupRequest: (req) => ({
        ...req,
        ...(request.connectJwt
          ? {
              headers: {
                ...request.headers,
                authorization: jwtFor(request.connectJwt.secret, request.connectJwt.issuer),
              },
            }
          : {}),
        ...(request.bodies ? { body: request.bodies[next++ % request.bodies.length] } : {}),
        ...(request.randomBody ? { body: drawBody(request.randomBody) } : {}),
      }),
    },
  ],
});
const cpu = process.cpuUsage(cpuAtStart);
const out: LoadResult = {
  requests: result.requests.total,
  seconds: result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  // autocannon counts 1xx/3xx/4xx/5xx answers in non2xx, connection errors and timeouts apart.
  failures: result.non2xx + result.errors + result.timeouts,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
};
process.stdout.write(`${JSON.stringify(out)}\n`);
