/**
 * Prometheus metrics of one serving host (`GET /metrics`, prom-client): requests and
 * latency per route, status and model version, the feedback buffer, and the loaded
 * version. Every kind's routes get them from the host's hooks, with no code of their own.
 * A registry per server, not prom-client's global one, so several servers in one process
 * (tests, replays) each count only their own requests.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ServingApp } from '../activities/model-kinds/contract';
import type { ChampionWatcher } from './champion-watcher';
import type { FeedbackLog } from './feedback-log';
import type { WriteAccess } from './write-access';

/** Latency buckets (seconds) around the 10 ms p99 every kind's route aims at. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export interface ServingMetricsSources {
  model: string;
  kind: string;
  watcher: ChampionWatcher;
  feedback: FeedbackLog;
  writes: WriteAccess;
}

export function createServingMetrics(app: ServingApp, { model, kind, watcher, feedback, writes }: ServingMetricsSources): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ model, kind });
  collectDefaultMetrics({ register: registry, prefix: 'storeloop_serving_' });

  const labelNames = ['route', 'method', 'status', 'version'] as const;
  const requests = new Counter({ name: 'storeloop_serving_requests_total', help: 'HTTP requests answered', labelNames, registers: [registry] });
  const latency = new Histogram({ name: 'storeloop_serving_request_duration_seconds', help: 'Time from request to response sent', labelNames, buckets: LATENCY_BUCKETS, registers: [registry] });

  new Gauge({
    name: 'storeloop_serving_feedback_buffered_rows',
    help: 'Feedback rows waiting to be written to S3',
    registers: [registry],
    collect() {
      this.set(feedback.snapshot().bufferedRows);
    },
  });
  new Gauge({
    name: 'storeloop_serving_feedback_capacity_rows',
    help: 'Feedback rows the buffer holds before requests wait (backpressure)',
    registers: [registry],
    collect() {
      this.set(feedback.snapshot().capacityRows);
    },
  });
  // Counts the feedback log and the watcher keep themselves, exposed as counters that
  // catch up with them at scrape time instead of being incremented in two places.
  const mirroredCounter = (name: string, help: string, read: () => number) => mirroredCounters(name, help, '', { '': read });
  /** One counter, a series per value of `label`. */
  const mirroredCounters = (name: string, help: string, label: string, reads: Record<string, () => number>) => {
    const seen = new Map<string, number>();
    new Counter({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      collect() {
        for (const [value, read] of Object.entries(reads)) {
          const now = read();
          this.inc(label ? { [label]: value } : {}, now - (seen.get(value) ?? 0));
          seen.set(value, now);
        }
      },
    });
  };
  mirroredCounter('storeloop_serving_feedback_written_rows_total', 'Feedback rows written to S3', () => feedback.snapshot().writtenRows);
  mirroredCounter('storeloop_serving_feedback_written_files_total', 'Feedback files written to S3', () => feedback.snapshot().writtenFiles);
  mirroredCounter('storeloop_serving_feedback_write_failures_total', 'Feedback writes that failed (retried later)', () => feedback.snapshot().failedWrites);
  mirroredCounters('storeloop_serving_writes_refused_total', 'Write requests refused: no or a wrong bearer token, or from another host while no token is configured', 'reason', {
    unauthenticated: () => writes.stats().refused.unauthenticated,
    not_loopback: () => writes.stats().refused.notLoopback,
  });
  mirroredCounters('storeloop_serving_feedback_rate_limited_events_total', 'Feedback events refused with 429 because their client or user was over its rate', 'scope', {
    client: () => writes.stats().rateLimited.client,
    user: () => writes.stats().rateLimited.user,
  });
  mirroredCounter('storeloop_serving_champion_poll_failures_total', 'Champion alias polls that failed (S3 unreachable, or a version that would not load)', () => watcher.failedPolls);
  new Gauge({
    name: 'storeloop_serving_model_info',
    help: 'The model version answering requests (1 for the live version)',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.reset();
      const version = watcher.champion?.version;
      if (version) this.set({ version }, 1);
    },
  });
  new Gauge({
    name: 'storeloop_serving_model_load_seconds',
    help: 'How long loading the live version took',
    registers: [registry],
    collect() {
      if (watcher.lastLoadMs !== null) this.set(watcher.lastLoadMs / 1000);
    },
  });
  new Gauge({
    name: 'storeloop_serving_model_loaded_timestamp_seconds',
    help: 'When the live version was loaded (Unix time)',
    registers: [registry],
    collect() {
      if (watcher.loadedAt) this.set(watcher.loadedAt.getTime() / 1000);
    },
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route's pattern, not the URL, keeps the label set bounded.
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    const version = reply.getHeader('x-model-version');
    const labels = { route, method: request.method, status: String(reply.statusCode), version: typeof version === 'string' ? version : 'none' };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  return registry;
}
