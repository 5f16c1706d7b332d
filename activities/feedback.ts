/**
 * feedback: online metrics of the served model versions and the drift between the
 * training data and recent traffic, from `feedback/<model>/date=YYYY-MM-DD/*.arrow`
 * (impressions and outcomes written by the serving side, schemas/feedback.ts).
 *
 * The window is the `windowDays` days before the run's data cut-off (or its start). Files are streamed batch
 * by batch, one day at a time: a day's outcomes are joined with the impressions of that
 * day and the day before, and older requests are dropped, so memory follows one or two
 * days of requests, not the window. An empty window is a valid outcome: "no feedback yet".
 */
import { FeedbackRow, type FeedbackEvent } from '../schemas/feedback';
import { servingModelName, type FeedbackConfig } from '../schemas/lifecycle-input';
import { readBatches } from './storage/arrow-io';
import type { RecordBatch } from 'apache-arrow';
import type { ObjectStore } from './storage/object-store';
import type { DriftMeasure, FeedbackResult, OnlineMetrics, PreprocessResult, StepContext } from '../schemas/steps';

const DAY_MS = 86_400_000;
const FEEDBACK_COLUMNS = Object.keys(FeedbackRow.shape) as (keyof FeedbackEvent)[];

interface ServedRequest {
  version: string;
  user: string;
  servedAtMs: number;
  items: Set<string>;
  /** `type:item` of the outcomes already counted, so a double click counts once. */
  outcomes: Set<string>;
}

interface VersionCounts {
  requests: number;
  impressions: number;
  clicks: number;
  addToCarts: number;
  purchases: number;
  unattributedOutcomes: number;
  hits: number;
  firstSeenMs: number;
}

const OUTCOME_COUNTER = { click: 'clicks', add_to_cart: 'addToCarts', purchase: 'purchases' } as const;

/** Arrow gives timestamps as numbers, bigints or Dates; the contract also allows ISO strings and epoch seconds. */
export function timestampMs(value: FeedbackEvent['timestamp'] | bigint | Date): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return /^\d+(\.\d+)?$/.test(value) ? timestampMs(Number(value)) : Date.parse(value);
  const n = Number(value);
  return n < 1e11 ? n * 1000 : n; // epoch seconds until the year 5138
}

/**
 * Joins impressions with outcomes, one day at a time, and counts per model version.
 * Call `add` for every row of a day, `endDay` after each day (oldest first), then `metrics`.
 */
export class OnlineMetricsJoin {
  private readonly versions = new Map<string, VersionCounts>();
  private today = new Map<string, ServedRequest>();
  private yesterday = new Map<string, ServedRequest>();
  private todayByUser = new Map<string, string[]>();
  private yesterdayByUser = new Map<string, string[]>();
  private pendingOutcomes: FeedbackEvent[] = [];
  /** Distinct users served in the window, for the sequence-length drift. */
  readonly servedUsers = new Set<string>();
  /** Positive outcomes per item, for the popularity drift. */
  readonly outcomeItems = new Map<string, number>();

  add(row: FeedbackEvent): void {
    if (row.type !== 'impression') {
      this.pendingOutcomes.push(row);
      this.outcomeItems.set(row.item_id, (this.outcomeItems.get(row.item_id) ?? 0) + 1);
      return;
    }
    const counts = this.counts(row.model_version);
    counts.impressions++;
    counts.firstSeenMs = Math.min(counts.firstSeenMs, timestampMs(row.timestamp));
    // Without a request id (not in the contract, but possible), each impression is its own list.
    const requestId = row.request_id ?? `${row.user_id}@${String(row.timestamp)}`;
    let request = this.today.get(requestId);
    if (!request) {
      request = { version: row.model_version, user: row.user_id, servedAtMs: timestampMs(row.timestamp), items: new Set(), outcomes: new Set() };
      this.today.set(requestId, request);
      const ofUser = this.todayByUser.get(row.user_id) ?? [];
      ofUser.push(requestId);
      this.todayByUser.set(row.user_id, ofUser);
      counts.requests++;
      this.servedUsers.add(row.user_id);
    }
    request.items.add(row.item_id);
  }

  endDay(): void {
    for (const outcome of this.pendingOutcomes) this.attribute(outcome);
    this.pendingOutcomes = [];
    this.yesterday = this.today;
    this.yesterdayByUser = this.todayByUser;
    this.today = new Map();
    this.todayByUser = new Map();
  }

  metrics(): Record<string, OnlineMetrics> {
    const rate = (n: number, of: number) => (of > 0 ? n / of : 0);
    return Object.fromEntries(
      [...this.versions].map(([version, c]) => [
        version,
        {
          requests: c.requests,
          impressions: c.impressions,
          clicks: c.clicks,
          addToCarts: c.addToCarts,
          purchases: c.purchases,
          unattributedOutcomes: c.unattributedOutcomes,
          ctr: rate(c.clicks, c.impressions),
          addToCartRate: rate(c.addToCarts, c.impressions),
          purchaseRate: rate(c.purchases, c.impressions),
          hitRate: rate(c.hits, c.requests),
          firstSeen: new Date(Number.isFinite(c.firstSeenMs) ? c.firstSeenMs : 0).toISOString(),
        },
      ]),
    );
  }

  private counts(version: string): VersionCounts {
    let counts = this.versions.get(version);
    if (!counts) {
      counts = { requests: 0, impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, unattributedOutcomes: 0, hits: 0, firstSeenMs: Number.POSITIVE_INFINITY };
      this.versions.set(version, counts);
    }
    return counts;
  }

  /** The list the outcome came from: by request id when known, else the user's latest list that showed the item before it. */
  private servedList(outcome: FeedbackEvent): ServedRequest | undefined {
    if (outcome.request_id) {
      const request = this.today.get(outcome.request_id) ?? this.yesterday.get(outcome.request_id);
      return request?.items.has(outcome.item_id) ? request : undefined;
    }
    // Files arrive in any order: "latest" goes by the time a list was served, not by when it was read.
    const at = timestampMs(outcome.timestamp);
    let latest: ServedRequest | undefined;
    for (const [byUser, requests] of [[this.todayByUser, this.today], [this.yesterdayByUser, this.yesterday]] as const) {
      for (const id of byUser.get(outcome.user_id) ?? []) {
        const request = requests.get(id)!;
        if (request.servedAtMs <= at && request.items.has(outcome.item_id) && request.servedAtMs > (latest?.servedAtMs ?? -Infinity)) latest = request;
      }
    }
    return latest;
  }

  private attribute(outcome: FeedbackEvent): void {
    const request = this.servedList(outcome);
    if (!request) {
      this.counts(outcome.model_version).unattributedOutcomes++;
      return;
    }
    const key = `${outcome.type}:${outcome.item_id}`;
    if (request.outcomes.has(key)) return;
    const counts = this.counts(request.version);
    if (request.outcomes.size === 0) counts.hits++;
    request.outcomes.add(key);
    counts[OUTCOME_COUNTER[outcome.type as keyof typeof OUTCOME_COUNTER]]++;
  }
}

/** PSI = sum over buckets of (actual - expected) * ln(actual / expected), shares floored so empty buckets stay finite. */
export function populationStabilityIndex(expected: number[], actual: number[]): number {
  const floor = 1e-4;
  const share = (counts: number[]) => {
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.map((c) => Math.max(floor, total > 0 ? c / total : 0));
  };
  const e = share(expected);
  const a = share(actual);
  return e.reduce((psi, ei, i) => psi + (a[i] - ei) * Math.log(a[i] / ei), 0);
}

function driftMeasure(labels: string[], expected: number[], actual: number[], threshold: number, minSample: number): DriftMeasure {
  const sample = actual.reduce((a, b) => a + b, 0);
  const total = (counts: number[]) => Math.max(1, counts.reduce((a, b) => a + b, 0));
  return {
    psi: sample >= minSample ? populationStabilityIndex(expected, actual) : null,
    threshold,
    sample,
    buckets: labels.map((label, i) => ({ label, expected: expected[i] / total(expected), actual: actual[i] / total(actual) })),
  };
}

/**
 * Item popularity: training items sorted by interactions and cut into buckets of equal
 * training mass (bucket 1 holds the head), plus a bucket for items training never saw.
 */
async function itemPopularityDrift(store: ObjectStore, prepared: PreprocessResult, outcomeItems: Map<string, number>, config: FeedbackConfig): Promise<DriftMeasure> {
  const items: { id: string; interactions: number }[] = [];
  for await (const batch of readBatches(store, prepared.vocabulary.key)) {
    const ids = batch.getChild('item_id')!;
    const interactions = batch.getChild('interactions')!;
    for (let row = 0; row < batch.numRows; row++) items.push({ id: ids.get(row), interactions: interactions.get(row) });
  }
  items.sort((a, b) => b.interactions - a.interactions || (a.id < b.id ? -1 : 1));
  const buckets = config.popularityBuckets;
  const total = items.reduce((n, item) => n + item.interactions, 0);
  const expected = new Array<number>(buckets + 1).fill(0);
  const actual = new Array<number>(buckets + 1).fill(0);
  const bucketOf = new Map<string, number>();
  let before = 0;
  for (const item of items) {
    const bucket = Math.min(buckets - 1, Math.floor((before / total) * buckets));
    bucketOf.set(item.id, bucket);
    expected[bucket] += item.interactions;
    before += item.interactions;
  }
  for (const [item, count] of outcomeItems) actual[bucketOf.get(item) ?? buckets] += count;
  const labels = [...Array.from({ length: buckets }, (_, i) => `popularity ${i + 1}/${buckets}`), 'unseen items'];
  return driftMeasure(labels, expected, actual, config.maxItemPopularityPsi, config.minRequests);
}

const LENGTH_BUCKETS: { label: string; max: number }[] = [
  { label: '0 (unknown user)', max: 0 },
  { label: '1', max: 1 },
  { label: '2', max: 2 },
  { label: '3-4', max: 4 },
  { label: '5-8', max: 8 },
  { label: '9-16', max: 16 },
  { label: '17-32', max: 32 },
  { label: '33-64', max: 64 },
  { label: '65+', max: Number.POSITIVE_INFINITY },
];
const lengthBucket = (length: number) => LENGTH_BUCKETS.findIndex((b) => length <= b.max);

/**
 * Sequence length: every training user's sequence length against the training history
 * length of each user served in the window (0 for users training never saw), so a wave
 * of new or short-history visitors shows up as drift.
 */
async function sequenceLengthDrift(store: ObjectStore, prepared: PreprocessResult, servedUsers: Set<string>, config: FeedbackConfig): Promise<DriftMeasure> {
  const expected = new Array<number>(LENGTH_BUCKETS.length).fill(0);
  const actual = new Array<number>(LENGTH_BUCKETS.length).fill(0);
  let known = 0;
  for await (const batch of readBatches(store, prepared.sequences.key)) {
    const users = batch.getChild('user_id')!;
    const sequences = batch.getChild('items')!;
    for (let row = 0; row < batch.numRows; row++) {
      const bucket = lengthBucket(sequences.get(row)!.length);
      expected[bucket]++;
      if (servedUsers.has(users.get(row))) {
        actual[bucket]++;
        known++;
      }
    }
  }
  actual[0] += servedUsers.size - known;
  return driftMeasure(LENGTH_BUCKETS.map((b) => b.label), expected, actual, config.maxSequenceLengthPsi, config.minRequests);
}

/** The rows of one Arrow batch that meet the contract; the others are counted, not thrown. */
function* validRows(batch: RecordBatch, endMs: number, startMs: number, invalid: { rows: number }): Generator<FeedbackEvent> {
  const columns = FEEDBACK_COLUMNS.map((name) => [name, batch.getChild(name)] as const).filter(([, vector]) => vector !== null);
  for (let row = 0; row < batch.numRows; row++) {
    const raw: Record<string, unknown> = {};
    for (const [name, vector] of columns) {
      const value = vector!.get(row);
      raw[name] = typeof value === 'bigint' || value instanceof Date ? timestampMs(value) : value;
    }
    const parsed = FeedbackRow.safeParse(raw);
    if (!parsed.success) {
      invalid.rows++;
      continue;
    }
    const at = timestampMs(parsed.data.timestamp);
    if (at >= startMs && at < endMs) yield parsed.data;
  }
}

function hitRateAlarm(perVersion: Record<string, OnlineMetrics>, config: FeedbackConfig): string | null {
  const live = Object.entries(perVersion)
    .filter(([, m]) => m.requests >= config.minRequests)
    .sort(([, a], [, b]) => a.firstSeen.localeCompare(b.firstSeen));
  if (live.length < 2) return null;
  const [[before, previous], [newest, current]] = live.slice(-2);
  const drop = previous.hitRate > 0 ? 1 - current.hitRate / previous.hitRate : 0;
  if (drop <= config.maxHitRateDrop) return null;
  return `hit rate of ${newest} (${current.hitRate.toFixed(4)}) is ${(drop * 100).toFixed(0)}% below ${before} (${previous.hitRate.toFixed(4)}); the limit is ${(config.maxHitRateDrop * 100).toFixed(0)}%`;
}

export async function measureFeedback(store: ObjectStore, ctx: StepContext, prepared: PreprocessResult): Promise<FeedbackResult> {
  const config = ctx.config.feedback;
  // A backfilled night measures the traffic before its cut-off, as that night would have.
  const end = ctx.config.dataCutoff ?? ctx.startedAt;
  const endMs = Date.parse(end);
  const startMs = endMs - config.windowDays * DAY_MS;
  const join = new OnlineMetricsJoin();
  const invalid = { rows: 0 };
  let files = 0;
  let events = 0;
  for (let day = startMs - (startMs % DAY_MS); day < endMs; day += DAY_MS) {
    const prefix = `feedback/${servingModelName(ctx.config)}/date=${new Date(day).toISOString().slice(0, 10)}/`;
    for (const object of await store.list(prefix)) {
      if (!object.key.endsWith('.arrow')) continue;
      files++;
      for await (const batch of readBatches(store, object.key)) {
        for (const row of validRows(batch, endMs, startMs, invalid)) {
          join.add(row);
          events++;
        }
      }
    }
    join.endDay();
  }
  const perVersion = join.metrics();
  const drift = {
    itemPopularity: await itemPopularityDrift(store, prepared, join.outcomeItems, config),
    sequenceLength: await sequenceLengthDrift(store, prepared, join.servedUsers, config),
  };
  const alarms: string[] = [];
  for (const [name, measure] of [['item popularity', drift.itemPopularity], ['sequence length', drift.sequenceLength]] as const) {
    if (measure.psi !== null && measure.psi > measure.threshold) alarms.push(`${name} drifted: PSI ${measure.psi.toFixed(3)} > ${measure.threshold}`);
  }
  const drop = hitRateAlarm(perVersion, config);
  if (drop) alarms.push(drop);
  return {
    status: events === 0 ? 'no-feedback' : 'measured',
    window: { from: new Date(startMs).toISOString(), to: new Date(endMs).toISOString() },
    files,
    events,
    invalidRows: invalid.rows,
    perVersion,
    drift,
    alarms,
  };
}
