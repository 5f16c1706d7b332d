/**
 * The recommendation service: serves a model's champion, follows its alias, and logs what
 * it showed and what users did with it. `startServingServer` runs it in-process (tests,
 * replays); `serving/main.ts` is the `npm run serve` entry point.
 *
 *   GET  /recommendations?user=&k=     a known user's next items (history: training sequence + recent feedback)
 *   POST /recommendations              {items: [...], k, session?} for an anonymous session
 *   POST /feedback                     {type, user, item, request_id?, position?, timestamp?} or an array of them
 *   GET  /health                       liveness: the process answers
 *   GET  /ready                        readiness: a champion is loaded (503 until then)
 */
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { ObjectStore, assertSafeKeySegment } from '../activities/storage/object-store';
import { loadConfig } from '../infra/config';
import { createLogger, type Logger } from '../infra/logger';
import { selectBackend } from '../ml/backend';
import { describeRequestIssue, parseFeedbackBody, RecommendationQuery, SessionRecommendationBody } from '../schemas/serving';
import { ChampionWatcher } from './champion-watcher';
import { FeedbackLog, feedbackPrefix, type FeedbackLogStats, type FeedbackRecord } from './feedback-log';
import { RecentActivity } from './recent-activity';
import type { LoadedChampion, Recommendation } from './champion';

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
  /** Most concurrent requests scored in one model call. */
  maxScoringBatch?: number;
  /** Users whose recent feedback events are remembered for their next requests. */
  recentUsers?: number;
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
  maxScoringBatch: 64,
  recentUsers: 100_000,
} as const;

/** Enough to exclude what a user saw lately; the model itself reads only its last maxLen items. */
const RECENT_ITEMS_PER_USER = 200;
/** Served lists remembered so an outcome posted with their request_id is credited to the version that served them. */
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
  const log = options.log ?? createLogger('serving');
  const ownStore = options.store === undefined;
  const store = options.store ?? new ObjectStore(loadConfig().s3);
  await selectBackend(log);

  const watcher = new ChampionWatcher({ store, model, log, pollIntervalMs: options.pollIntervalMs ?? SERVING_DEFAULTS.pollIntervalMs, maxBatch: options.maxScoringBatch ?? SERVING_DEFAULTS.maxScoringBatch });
  const feedback = new FeedbackLog({ store, log, prefix: options.feedbackPrefix ?? feedbackPrefix(model), ...SERVING_DEFAULTS.feedback, ...options.feedback });
  const recent = new RecentActivity(options.recentUsers ?? SERVING_DEFAULTS.recentUsers, RECENT_ITEMS_PER_USER);
  const servedBy = new LRUCache<string, string>({ max: SERVED_REQUESTS_REMEMBERED });
  await watcher.start();

  const app = Fastify({
    loggerInstance: log,
    // One log line per request would cost more than scoring it; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
  });

  // Every response names its request and the live version; a recommendation names the version that ranked it (set in serve()).
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const live = watcher.champion?.version;
    if (live && !reply.hasHeader('x-model-version')) reply.header('x-model-version', live);
  });

  app.setErrorHandler((error: Error & { statusCode?: number; field?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500 && status !== 503) request.log.error({ err: error, url: request.url }, 'request failed');
    return reply.status(status).send({
      error: status >= 500 && status !== 503 ? 'internal error' : error.message,
      ...(error.field ? { field: error.field } : {}),
      request_id: request.id,
    });
  });

  /**
   * Answers a recommendation request on the live version, leased so that a swap cannot
   * dispose it mid-request, and logs one impression per item shown.
   */
  async function serve(
    request: FastifyRequest,
    reply: FastifyReply,
    shownTo: { user: string; timestamp?: number },
    rank: (champion: LoadedChampion) => Promise<{ recommendation: Recommendation; details: Record<string, unknown> }>,
  ) {
    const champion = watcher.acquire();
    try {
      const { recommendation, details } = await rank(champion);
      const timestamp = shownTo.timestamp ?? Date.now();
      await feedback.append(
        recommendation.items.map((item, position) => ({
          type: 'impression', model_version: champion.version, user_id: shownTo.user, item_id: item.item_id, request_id: request.id, position, timestamp,
        })),
      );
      servedBy.set(request.id, champion.version);
      reply.header('x-model-version', champion.version);
      return { request_id: request.id, model, version: champion.version, strategy: recommendation.strategy, items: recommendation.items, ...details };
    } finally {
      champion.release();
    }
  }

  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    const champion = watcher.champion;
    const body = { model, version: champion?.version ?? null, loadedAt: watcher.loadedAt, lastError: watcher.lastError, feedback: feedback.snapshot() };
    if (!champion) return reply.status(503).send({ status: 'loading', ...body });
    return { status: 'ready', ...body, users: champion.users, items: champion.numItems };
  });

  app.get('/recommendations', async (request, reply) => {
    const query = parseRequest(RecommendationQuery, request.query);
    return serve(request, reply, query, async (champion) => {
      const history = champion.historyOf(query.user, champion.encode(recent.itemsOf(query.user)).indices);
      return { recommendation: await champion.recommend(history, query.k), details: { user: query.user } };
    });
  });

  app.post('/recommendations', async (request, reply) => {
    const body = parseRequest(SessionRecommendationBody, request.body);
    return serve(request, reply, { user: body.session ?? 'anonymous', timestamp: body.timestamp }, async (champion) => {
      const { indices, unknown } = champion.encode(body.items);
      // Unknown items (new since training, or mistyped) cannot inform the model; say which were ignored.
      return { recommendation: await champion.recommend(Int32Array.from(indices), body.k), details: { ignored_items: unknown } };
    });
  });

  app.setNotFoundHandler(async (request, reply) => reply.status(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, request_id: request.id }));

  app.post('/feedback', async (request, reply) => {
    const events = check(parseFeedbackBody(request.body));
    const liveVersion = watcher.liveVersion();
    const rows: FeedbackRecord[] = events.map((e) => ({
      type: e.type,
      model_version: (e.request_id && servedBy.get(e.request_id)) || liveVersion,
      user_id: e.user,
      item_id: e.item,
      request_id: e.request_id ?? null,
      position: e.position ?? null,
      timestamp: e.timestamp ?? Date.now(),
    }));
    await feedback.append(rows);
    for (const e of events) recent.record(e.user, e.item);
    return reply.status(202).send({ request_id: request.id, accepted: rows.length });
  });

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
  log.info({ model, url, version: watcher.champion?.version ?? null }, 'serving');
  return { url, version: () => watcher.champion?.version ?? null, feedbackStats: () => feedback.snapshot(), close };
}
