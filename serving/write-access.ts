/**
 * Who may write to a serving host, and how fast. A write is every route that is not a GET or
 * HEAD, unless the kind marks it a scoring route (the contract's SCORING_ROUTE: it answers from the model and
 * logs only what it answered), so a kind's new write route is guarded without a line of its own.
 *
 * - With write tokens configured (STORELOOP_SERVING_WRITE_TOKEN, comma-separated for rotation),
 *   a write needs `Authorization: Bearer <token>`: 401 without it or with a wrong one.
 * - Without one, writes are taken only from the loopback interface (a sidecar, `npm run serve`
 *   on a laptop, the benchmark): 403 from any other address, whatever the host listens on.
 * - Reads (GET, scoring POSTs, /health, /ready, /metrics) stay open.
 * - Feedback events are rate-limited per client (its address) and per end user (the kind's
 *   feedback `userColumn`), each with a token bucket: 429 with Retry-After when one is empty,
 *   and nothing of that request is logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { quoted } from '../schemas/events';
import type { FastifyRequest } from 'fastify';
import type { ServingApp } from '../activities/model-kinds/contract';

export interface RateLimit {
  /** Events a bucket holds: the burst allowed after a quiet spell. */
  burst: number;
  /** Events per second the bucket refills. */
  perSecond: number;
}

export interface FeedbackLimits {
  perClient: RateLimit;
  perUser: RateLimit;
}

export const FEEDBACK_LIMIT_DEFAULTS: FeedbackLimits = {
  // A shop backend forwarding every user's events is one client: a wide bucket.
  perClient: { burst: 2000, perSecond: 500 },
  // A person clicks, adds and buys a few items a minute; 30 at once and one every two seconds after that is generous.
  perUser: { burst: 30, perSecond: 0.5 },
};

export interface WriteAccessOptions {
  /** Accepted bearer tokens; empty: writes only from loopback. */
  tokens: string[];
  limits: FeedbackLimits;
}

export interface WriteAccessStats {
  refused: { unauthenticated: number; notLoopback: number };
  rateLimited: { client: number; user: number };
}

/** Errors the host's error handler answers with their status and headers. */
export class RateLimitedError extends Error {
  readonly statusCode = 429;
  readonly headers: Record<string, string>;
  constructor(
    readonly scope: 'client' | 'user',
    readonly retryAfterSeconds: number,
    /** Set when one request alone holds more events than the bucket: it can never fit. */
    burst?: number,
  ) {
    super(burst === undefined ? `too many feedback events from this ${scope}; retry in ${retryAfterSeconds} s` : `more feedback events from this ${scope} in one request than the ${burst} allowed at once; send fewer per request`);
    this.headers = { 'retry-after': String(retryAfterSeconds) };
  }
}

class RefusedWriteError extends Error {
  readonly headers: Record<string, string>;
  constructor(
    readonly statusCode: 401 | 403,
    message: string,
  ) {
    super(message);
    this.headers = statusCode === 401 ? { 'www-authenticate': 'Bearer realm="storeloop-serving"' } : {};
  }
}

/** Tokens from the environment: comma-separated, blanks ignored. */
export function writeTokensFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.STORELOOP_SERVING_WRITE_TOKEN ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

export function feedbackLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): FeedbackLimits {
  const positive = (name: string, fallback: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${quoted(raw)}`);
    return n;
  };
  const d = FEEDBACK_LIMIT_DEFAULTS;
  return {
    perClient: { burst: positive('STORELOOP_FEEDBACK_CLIENT_BURST', d.perClient.burst), perSecond: positive('STORELOOP_FEEDBACK_CLIENT_PER_SECOND', d.perClient.perSecond) },
    perUser: { burst: positive('STORELOOP_FEEDBACK_USER_BURST', d.perUser.burst), perSecond: positive('STORELOOP_FEEDBACK_USER_PER_SECOND', d.perUser.perSecond) },
  };
}

/** Loopback peers: 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return address === '::1';
}

/** Equal-time comparison: both sides hashed to the same length first, so neither length nor content leaks through timing. */
function tokenMatches(given: string, tokens: readonly Buffer[]): boolean {
  const digest = createHash('sha256').update(given).digest();
  let match = false;
  for (const token of tokens) match = timingSafeEqual(digest, token) || match;
  return match;
}

/**
 * Token buckets by key, refilled lazily from the clock: a few lines instead of a dependency,
 * because the limit is on events (a request may carry many, of several users), which
 * request-counting limiters such as @fastify/rate-limit do not model.
 */
class TokenBuckets {
  private readonly buckets: LRUCache<string, { tokens: number; atMs: number }>;

  constructor(
    private readonly limit: RateLimit,
    keys: number,
  ) {
    this.buckets = new LRUCache({ max: keys });
  }

  /** Seconds until `events` fit the key's bucket (0: they fit now); takes nothing. */
  waitFor(key: string, events: number, nowMs: number): number {
    const tokens = this.level(key, nowMs);
    if (events > this.limit.burst) return Number.POSITIVE_INFINITY;
    return tokens >= events ? 0 : (events - tokens) / this.limit.perSecond;
  }

  take(key: string, events: number, nowMs: number): void {
    this.buckets.set(key, { tokens: this.level(key, nowMs) - events, atMs: nowMs });
  }

  private level(key: string, nowMs: number): number {
    const bucket = this.buckets.get(key);
    if (!bucket) return this.limit.burst;
    return Math.min(this.limit.burst, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * this.limit.perSecond);
  }
}

/** Clients (addresses) and users whose buckets are remembered; a forgotten one starts full again. */
const CLIENTS_REMEMBERED = 10_000;
const USERS_REMEMBERED = 200_000;

export class WriteAccess {
  private readonly tokens: Buffer[];
  private readonly clients: TokenBuckets;
  private readonly users: TokenBuckets;
  private readonly counts: WriteAccessStats = { refused: { unauthenticated: 0, notLoopback: 0 }, rateLimited: { client: 0, user: 0 } };

  constructor(private readonly options: WriteAccessOptions) {
    this.tokens = options.tokens.map((t) => createHash('sha256').update(t).digest());
    this.clients = new TokenBuckets(options.limits.perClient, CLIENTS_REMEMBERED);
    this.users = new TokenBuckets(options.limits.perUser, USERS_REMEMBERED);
  }

  /** What the startup log says about writes. */
  describe(): string {
    return this.tokens.length > 0 ? `writes need a bearer token (${this.tokens.length} configured)` : 'writes only from loopback: set STORELOOP_SERVING_WRITE_TOKEN to take them from other hosts';
  }

  stats(): WriteAccessStats {
    return { refused: { ...this.counts.refused }, rateLimited: { ...this.counts.rateLimited } };
  }

  /** Guards every write route registered after this call: credentials first (before the body is read), then the client's rate. */
  guard(app: ServingApp): void {
    app.addHook('onRoute', (route) => {
      const methods = [route.method].flat();
      const write = methods.some((m) => m !== 'GET' && m !== 'HEAD') && !(route.config as { scoring?: boolean } | undefined)?.scoring;
      if (!write) return;
      route.onRequest = [...[route.onRequest ?? []].flat(), async (request: FastifyRequest) => this.authenticate(request)];
      route.preHandler = [...[route.preHandler ?? []].flat(), async (request: FastifyRequest) => this.admitClient(request)];
    });
  }

  /** Refuses the events of one request unless every user among them has room; takes their tokens when all do. */
  admitUsers(users: readonly (string | null | undefined)[], nowMs = Date.now()): void {
    const perUser = new Map<string, number>();
    for (const user of users) if (user) perUser.set(user, (perUser.get(user) ?? 0) + 1);
    const wait = Math.max(0, ...[...perUser].map(([user, n]) => this.users.waitFor(user, n, nowMs)));
    if (wait > 0) {
      this.counts.rateLimited.user += users.length;
      throw new RateLimitedError('user', retryAfter(wait, this.options.limits.perUser), Number.isFinite(wait) ? undefined : this.options.limits.perUser.burst);
    }
    for (const [user, n] of perUser) this.users.take(user, n, nowMs);
  }

  private authenticate(request: FastifyRequest): void {
    if (this.tokens.length === 0) {
      if (isLoopback(request.socket.remoteAddress)) return;
      this.counts.refused.notLoopback++;
      throw new RefusedWriteError(403, 'writes are taken only from loopback on this host; configure STORELOOP_SERVING_WRITE_TOKEN and send it as a bearer token');
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match && tokenMatches(match[1], this.tokens)) return;
    this.counts.refused.unauthenticated++;
    throw new RefusedWriteError(401, match ? 'the bearer token is not valid' : 'writes need Authorization: Bearer <token>');
  }

  private admitClient(request: FastifyRequest): void {
    const events = Array.isArray(request.body) ? request.body.length : 1;
    const client = request.socket.remoteAddress ?? 'unknown';
    const nowMs = Date.now();
    const wait = this.clients.waitFor(client, events, nowMs);
    if (wait > 0) {
      this.counts.rateLimited.client += events;
      throw new RateLimitedError('client', retryAfter(wait, this.options.limits.perClient), Number.isFinite(wait) ? undefined : this.options.limits.perClient.burst);
    }
    this.clients.take(client, events, nowMs);
  }
}

/** Whole seconds, at least 1; a request larger than the burst is told the time to refill a full bucket. */
function retryAfter(waitSeconds: number, limit: RateLimit): number {
  return Math.max(1, Math.ceil(Number.isFinite(waitSeconds) ? waitSeconds : limit.burst / limit.perSecond));
}
