/**
 * The serving host: serves one model's champion, follows its alias, and logs what it
 * answered and what happened next to `feedback/<model>/`. The routes are the model kind's
 * (next-item: /recommendations, transaction-risk: /risk/score, each with POST /feedback);
 * the host gives them validation with 400s that name the field, version leasing across hot
 * swaps, request ids, the feedback log, and a graceful close. `startServingServer` runs it
 * in-process (tests, replays); `serving/main.ts` is the `npm run serve` entry point.
 *
 *   GET  /health                       liveness: the process answers
 *   GET  /ready                        readiness: a champion is loaded (503 until then)
 *   GET  /metrics                      Prometheus metrics (serving/metrics.ts)
 *
 * Writes (POST /feedback, and any route of a kind that is not a GET or a scoring route) need
 * a bearer token, or come from loopback when none is configured, and feedback events are
 * rate-limited per client and per user (serving/write-access.ts).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { ObjectStore, assertSafeKeySegment } from '../activities/storage/object-store';
import { KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import { parseModelName } from '../schemas/lifecycle-input';
import { loadConfig } from '../infra/config';
import { createLogger, type Logger } from '../infra/logger';
import { selectBackend } from '../ml/backend';
import { describeRequestIssue } from '../schemas/serving';
import { ChampionWatcher, NoChampionError } from './champion-watcher';
import { createServingMetrics } from './metrics';
import { FeedbackLog, feedbackPrefix, type FeedbackLogStats, type FeedbackRecord } from './feedback-log';
import { WriteAccess, feedbackLimitsFromEnv, writeTokensFromEnv, type FeedbackLimits } from './write-access';
import { pseudonymiserFromEnv, type Pseudonymiser } from '../activities/privacy/pseudonyms';
import { RowProtector } from '../activities/privacy/personal-data';
import type { ServingHost } from '../activities/model-kinds/contract';

export interface ServingOptions {
  /** Serving model name, `<dataset>-<kind>`, e.g. `store-next-item`. */
  model: string;
  /** Defaults to the S3 storage of loadConfig(). */
  store?: ObjectStore;
  host?: string;
  /** Default 0: a free port (see `url`). */
  port?: number;
  /** How often the champion alias is checked. */
  pollIntervalMs?: number;
  feedback?: { batchRows?: number; flushIntervalMs?: number; capacityRows?: number };
  /** Where impressions and events go; `feedback/<model>/` (read by the feedback step) unless given. */
  feedbackPrefix?: string;
  /** Most concurrent requests scored in one model call (1: each alone). */
  maxScoringBatch?: number;
  /** Longest a request waits for others to share its model call, in ms. */
  batchWindowMs?: number;
  /** Bearer tokens that writes need; STORELOOP_SERVING_WRITE_TOKEN unless given, and none: writes only from loopback. */
  writeTokens?: string[];
  /** Feedback events allowed per client and per user; the STORELOOP_FEEDBACK_* variables unless given. */
  feedbackLimits?: FeedbackLimits;
  /** How customer ids are pseudonymised (STORELOOP_PSEUDONYM_KEY unless given); it must match the pipeline workers' key. */
  pseudonyms?: Pseudonymiser;
  log?: Logger;
}

export interface ServingServer {
  url: string;
  /** The version answering requests now, or null before the first champion is loaded. */
  version(): string | null;
  feedbackStats(): FeedbackLogStats;
  /** Stops accepting requests, lets in-flight ones finish, writes every buffered feedback row, releases the model. */
  close(): Promise<void>;
}

export const SERVING_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  pollIntervalMs: 1000,
  feedback: { batchRows: 1000, flushIntervalMs: 5000, capacityRows: 20_000 },
  // Measured with bench:serving (README, "Latency and throughput").
  maxScoringBatch: 64,
  batchWindowMs: 2,
} as const;

/** Answers remembered so an outcome posted with their request_id is credited to the version that gave them. */
const SERVED_REQUESTS_REMEMBERED = 200_000;

class BadRequestError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const ExplainQuery = z.object({ explain: z.enum(['true', 'false'], { message: 'must be true or false' }).transform((value) => value === 'true') });

function parseRequest<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  return check(schema.safeParse(input));
}

function check<T>(parsed: z.ZodSafeParseResult<T>): T {
  if (parsed.success) return parsed.data;
  const { field, message } = describeRequestIssue(parsed.error);
  throw new BadRequestError(field, message);
}

export async function startServingServer(options: ServingOptions): Promise<ServingServer> {
  const model = assertSafeKeySegment(options.model, 'model');
  const kind = kindOf(parseModelName(model, KIND_NAMES).kind);
  const log = options.log ?? createLogger('serving');
  const ownStore = options.store === undefined;
  // Serving does not wait out a storage outage inside a request or a poll: /ready reports it at once, and the next poll tries again.
  const store = options.store ?? new ObjectStore({ ...loadConfig().s3, outageToleranceSeconds: 0 });
  await selectBackend(log);

  const settings = { maxScoringBatch: options.maxScoringBatch ?? SERVING_DEFAULTS.maxScoringBatch, batchWindowMs: options.batchWindowMs ?? SERVING_DEFAULTS.batchWindowMs };
  const watcher = new ChampionWatcher({ store, model, kind, log, pollIntervalMs: options.pollIntervalMs ?? SERVING_DEFAULTS.pollIntervalMs, settings });
  const feedback = new FeedbackLog({ store, log, schema: kind.feedback.arrow, prefix: options.feedbackPrefix ?? feedbackPrefix(model), ...SERVING_DEFAULTS.feedback, ...options.feedback });
  const servedBy = new LRUCache<string, string>({ max: SERVED_REQUESTS_REMEMBERED });
  const pseudonyms = options.pseudonyms ?? pseudonymiserFromEnv();
  // Logged rows are protected as collect protects raw rows, so the feedback step joins them to the training data.
  const protector = new RowProtector(kind.feedback.personal, pseudonyms);
  const writes = new WriteAccess({ tokens: options.writeTokens ?? writeTokensFromEnv(), limits: options.feedbackLimits ?? feedbackLimitsFromEnv() });
  await watcher.start();

  const app = Fastify({
    loggerInstance: log,
    // One log line per request would cost more than scoring it; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
  });

  // `?explain=true` is the host's query parameter on every route: taken out before a route's own (strict) query schema sees it.
  const explained = new WeakSet<FastifyRequest>();
  app.addHook('preHandler', async (request) => {
    const query = request.query as Record<string, unknown> | undefined;
    if (!query || !('explain' in query)) return;
    const { explain } = parseRequest(ExplainQuery, { explain: query.explain });
    delete query.explain;
    if (explain) explained.add(request);
  });

  // Every response names its request and the live version; a recommendation names the version that ranked it (set in serve()).
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const live = watcher.champion?.version;
    if (live && !reply.hasHeader('x-model-version')) reply.header('x-model-version', live);
  });

  app.setErrorHandler((error: Error & { statusCode?: number; field?: string; headers?: Record<string, string> }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500 && status !== 503) request.log.error({ err: error, url: request.url }, 'request failed');
    if (status < 500 && error.headers) reply.headers(error.headers);
    return reply.status(status).send({
      error: status >= 500 && status !== 503 ? 'internal error' : error.message,
      ...(error.field ? { field: error.field } : {}),
      request_id: request.id,
    });
  });

  const host: ServingHost<unknown> = {
    model,
    log,
    parse: (schema, input) => parseRequest(schema, input),
    check,
    async serve(request, reply, work) {
      const served = watcher.acquire();
      try {
        const { body, logged } = await work(served.loaded, served.version);
        if (logged.length > 0) await feedback.append(logged.map((row) => protector.protect({ model_version: served.version, ...row }) as unknown as FeedbackRecord));
        servedBy.set(request.id, served.version);
        reply.header('x-model-version', served.version);
        return { request_id: request.id, model, version: served.version, ...body };
      } finally {
        served.release();
      }
    },
    explains: (request) => explained.has(request),
    liveVersion: () => watcher.liveVersion(),
    live: () => {
      if (!watcher.champion) throw new NoChampionError(model, watcher.lastError);
      return watcher.champion.loaded;
    },
    logFeedback: (rows) => {
      const protectedRows = rows.map((row) => protector.protect(row));
      const userColumn = kind.feedback.userColumn;
      if (userColumn) writes.admitUsers(protectedRows.map((row) => row[userColumn] as string | null | undefined));
      return feedback.append(protectedRows as FeedbackRecord[]);
    },
    pseudonymOf: (id) => pseudonyms.of(id),
    creditedVersion: (requestId) => (requestId ? servedBy.get(requestId) : undefined) ?? watcher.liveVersion(),
  };

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    const champion = watcher.champion;
    const body = { model, kind: kind.name, version: champion?.version ?? null, loadedAt: watcher.loadedAt, lastError: watcher.lastError, feedback: feedback.snapshot(), batching: settings };
    if (!champion) return reply.status(503).send({ status: 'loading', ...body });
    return { status: 'ready', ...body, explanation: kind.serving.explanation, ...kind.serving.describe(champion.loaded) };
  });

  createServingMetrics(app, { model, kind: kind.name, watcher, feedback, writes });
  writes.guard(app);
  kind.serving.routes(app, host);

  app.setNotFoundHandler(async (request, reply) => reply.status(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, request_id: request.id }));

  // Requests the HTTP server is working on, finished or aborted; close() uses it to drop idle sockets.
  let requestsInFlight = 0;
  app.server.on('request', (_request, response) => {
    requestsInFlight++;
    response.on('close', () => requestsInFlight--);
  });

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // A socket that connected but has not sent a request would hold app.close() until Node's
      // 60 s headers timeout, so once no request is in flight every remaining connection is dropped.
      const sweep = setInterval(() => requestsInFlight === 0 && app.server.closeAllConnections(), 50);
      await app.close().finally(() => clearInterval(sweep));
      await watcher.stop();
      await feedback.close();
      if (ownStore) store.client.destroy();
      log.info({ model, feedback: feedback.snapshot() }, 'serving stopped; feedback flushed');
    })();
    return closing;
  };
  try {
    await app.listen({ host: options.host ?? SERVING_DEFAULTS.host, port: options.port ?? 0 });
  } catch (error) {
    await close(); // the poller and the flush timer would otherwise keep the process alive
    throw error;
  }
  const address = app.server.address();
  const url = typeof address === 'string' ? address : `http://${address?.family === 'IPv6' ? `[${address.address}]` : address?.address}:${address?.port}`;
  const ids = pseudonyms.enabled ? 'customer ids pseudonymised' : 'customer ids logged as given (no STORELOOP_PSEUDONYM_KEY)';
  log.info({ model, url, version: watcher.champion?.version ?? null, writes: writes.describe(), pseudonymised: pseudonyms.enabled }, `serving; ${writes.describe()}; ${ids}`);
  return { url, version: () => watcher.champion?.version ?? null, feedbackStats: () => feedback.snapshot(), close };
}
