import type { onResponseHookHandler } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const HTTP_DURATION = 'custos_http_request_duration_seconds';
/** The labels of both HTTP metrics: route pattern (never the URL), method and status. */
const HTTP_LABELS = ['method', 'route', 'status_code'] as const;
type HttpLabels = (typeof HTTP_LABELS)[number];

/**
 * Prometheus metrics of one Custos process. A registry per instance (not prom-client's
 * global one) so several apps in one process — tests — do not collide.
 */
export class Metrics {
  readonly registry = new Registry();
  /**
   * The histogram's `_count` under the name operators' dashboards query, listed first as it
   * always was. Copied when scraped, not counted per request (one label lookup an answer
   * instead of two): anything `inc()` adds is overwritten at the next scrape.
   */
  readonly httpRequests = new Counter({
    name: 'custos_http_requests_total',
    help: 'HTTP requests by route pattern, method and status code.',
    labelNames: HTTP_LABELS,
    registers: [this.registry],
    collect: countsOf(() => this.httpDuration, `${HTTP_DURATION}_count`),
  });
  readonly httpDuration = new Histogram({
    name: HTTP_DURATION,
    help: 'HTTP request latency by route pattern, method and status code.',
    labelNames: HTTP_LABELS,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly openConnections = new Gauge({
    name: 'custos_http_open_connections',
    help: 'Client connections open now (capped by CUSTOS_MAX_CONNECTIONS).',
    registers: [this.registry],
  });
  readonly droppedConnections = new Counter({
    name: 'custos_http_dropped_connections_total',
    help: 'Client connections Custos closed unanswered: evicted or refused at the connection cap, a stalled body (body_timeout), headers or a request not received in time (request_timeout), malformed HTTP (bad_request).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly consentApplyLag = new Histogram({
    name: 'custos_consent_apply_lag_seconds',
    help: 'Time from accepting a consent request (202) to applying it, measured by the worker that applied it.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly workerErrors = new Counter({
    name: 'custos_worker_errors_total',
    help: 'Background task runs that failed and will be retried.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly jobRuns = new Counter({
    name: 'custos_job_runs_total',
    help: 'Job runs by job name and outcome: succeeded, retrying, failed, interrupted (a graceful stop), lease-lost.',
    labelNames: ['name', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'custos_job_duration_seconds',
    help: 'How long job runs took, by job name.',
    labelNames: ['name'] as const,
    buckets: [0.01, 0.05, 0.25, 1, 5, 15, 60, 300, 900],
    registers: [this.registry],
  });

  constructor(
    queueDepth: () => Promise<number>,
    jobCounts: () => Promise<{ name: string; status: string; count: number }[]>,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'custos_' });
    new Gauge({
      name: 'custos_consent_queue_depth',
      help: 'Accepted consent requests not yet applied.',
      registers: [this.registry],
      async collect() {
        this.set(await queueDepth());
      },
    });
    new Gauge({
      name: 'custos_jobs',
      help: 'Jobs in the jobs table by name and status (pending, running, succeeded, failed); finished ones are kept CUSTOS_JOB_RETENTION_DAYS.',
      labelNames: ['name', 'status'] as const,
      registers: [this.registry],
      async collect() {
        const counts = await jobCounts();
        this.reset();
        for (const c of counts) this.set({ name: c.name, status: c.status }, c.count);
      },
    });
  }

  /**
   * The onResponse hook that counts and times every answer by method, route pattern (never
   * the URL, which may name a person) and status. Callback form: no promise per request.
   */
  httpHook(): onResponseHookHandler {
    return (request, reply, done) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      };
      this.httpDuration.observe(labels, reply.elapsedTime / 1000);
      done();
    };
  }

  /**
   * Email API access requests waiting for a person, and how many of them are past the review
   * SLA (CUSTOS_ACCESS_REVIEW_SLA_HOURS; 0 without one): an alert on the overdue count turns
   * a forgotten queue into a page.
   */
  trackAccessReview(counts: () => Promise<{ inReview: number; overdue: number }>): void {
    new Gauge({
      name: 'custos_access_requests_in_review',
      help: 'Email API access requests waiting for a reviewer; state="overdue" counts those past CUSTOS_ACCESS_REVIEW_SLA_HOURS.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const { inReview, overdue } = await counts();
        this.set({ state: 'all' }, inReview);
        this.set({ state: 'overdue' }, overdue);
      },
    });
  }
}

/**
 * A counter's collect callback that sets it to the histogram's `_count` for each label set
 * (the histogram read when scraped: it is made after the counter). The counter takes plain
 * increments: exemplars are not enabled.
 */
function countsOf(histogram: () => Histogram<HttpLabels>, name: string) {
  return async function (this: Counter<HttpLabels>) {
    const { values } = await histogram().get();
    // Read first, then reset and fill in one synchronous step: two scrapes at once cannot
    // interleave their resets and increments.
    this.reset();
    for (const value of values)
      if (value.metricName === name) this.inc(value.labels as Record<HttpLabels, string>, value.value);
  };
}
