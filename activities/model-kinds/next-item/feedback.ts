/**
 * The next-item kind's feedback: impressions of served lists joined with what users did
 * (clicks, add-to-carts, purchases), per model version, and two drift measures against the
 * training data: item popularity and users' history length.
 */
import { FEEDBACK_SCHEMA, FeedbackRow, type FeedbackEvent } from '../../../schemas/feedback';
import { readBatches } from '../../storage/arrow-io';
import { driftMeasure } from '../../drift';
import { timestampMs } from '../../feedback';
import { artifactOf } from '../../kind-runtime';
import type { FeedbackHandler, MetricSpec } from '../contract';
import type { ObjectStore } from '../../storage/object-store';
import type { DriftMeasure, OnlineMetrics, PreprocessResult } from '../../../schemas/steps';

/** Buckets of equal training mass for the item-popularity PSI (plus one for items the training data lacks). */
const POPULARITY_BUCKETS = 10;


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
  /** Distinct users served. */
  users: Set<string>;
  impressions: number;
  clicks: number;
  addToCarts: number;
  purchases: number;
  unattributedOutcomes: number;
  hits: number;
  firstSeenMs: number;
}

const OUTCOME_COUNTER = { click: 'clicks', add_to_cart: 'addToCarts', purchase: 'purchases' } as const;

/** Longest an outcome may follow the list it is credited to: the day join reaches back to yesterday's lists. */
export const MAX_CREDIT_WINDOW_MS = 48 * 3_600_000;

/**
 * Joins impressions with outcomes, one day at a time, and counts per model version.
 * Call `add` for every row of a day, `endDay` after each day (oldest first), then `metrics`.
 * An outcome is credited to a list only when it follows the list within `creditWindowMs`:
 * a purchase stamped before the list was served, or long after, is unattributed.
 */
export class OnlineMetricsJoin {
  constructor(private readonly creditWindowMs = MAX_CREDIT_WINDOW_MS) {}

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
      counts.users.add(row.user_id);
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
          users: c.users.size,
          firstSeen: new Date(Number.isFinite(c.firstSeenMs) ? c.firstSeenMs : 0).toISOString(),
          metrics: {
            impressions: c.impressions,
            clicks: c.clicks,
            addToCarts: c.addToCarts,
            purchases: c.purchases,
            unattributedOutcomes: c.unattributedOutcomes,
            hits: c.hits,
            ctr: rate(c.clicks, c.impressions),
            addToCartRate: rate(c.addToCarts, c.impressions),
            purchaseRate: rate(c.purchases, c.impressions),
            hitRate: rate(c.hits, c.requests),
          },
        },
      ]),
    );
  }

  private counts(version: string): VersionCounts {
    let counts = this.versions.get(version);
    if (!counts) {
      counts = { requests: 0, users: new Set(), impressions: 0, clicks: 0, addToCarts: 0, purchases: 0, unattributedOutcomes: 0, hits: 0, firstSeenMs: Number.POSITIVE_INFINITY };
      this.versions.set(version, counts);
    }
    return counts;
  }

  /**
   * The list the outcome came from: by request id when known, else the user's latest list that
   * showed the item; either way one served to this user, before the outcome and within the credit window.
   */
  private servedList(outcome: FeedbackEvent): ServedRequest | undefined {
    const at = timestampMs(outcome.timestamp);
    const credits = (request: ServedRequest | undefined): request is ServedRequest =>
      request !== undefined && request.user === outcome.user_id && request.items.has(outcome.item_id) && request.servedAtMs <= at && at - request.servedAtMs <= this.creditWindowMs;
    if (outcome.request_id) {
      const request = this.today.get(outcome.request_id) ?? this.yesterday.get(outcome.request_id);
      return credits(request) ? request : undefined;
    }
    // Files arrive in any order: "latest" goes by the time a list was served, not by when it was read.
    let latest: ServedRequest | undefined;
    for (const [byUser, requests] of [[this.todayByUser, this.today], [this.yesterdayByUser, this.yesterday]] as const) {
      for (const id of byUser.get(outcome.user_id) ?? []) {
        const request = requests.get(id);
        if (credits(request) && request.servedAtMs > (latest?.servedAtMs ?? -Infinity)) latest = request;
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

/**
 * Item popularity: training items sorted by interactions and cut into buckets of equal
 * training mass (bucket 1 holds the head), plus a bucket for items training never saw.
 */
async function itemPopularityDrift(store: ObjectStore, prepared: PreprocessResult, outcomeItems: Map<string, number>, threshold: number, minSample: number): Promise<DriftMeasure> {
  const items: { id: string; interactions: number }[] = [];
  for await (const batch of readBatches(store, artifactOf(prepared, 'vocabulary'))) {
    const ids = batch.getChild('item_id')!;
    const interactions = batch.getChild('interactions')!;
    for (let row = 0; row < batch.numRows; row++) items.push({ id: ids.get(row), interactions: interactions.get(row) });
  }
  items.sort((a, b) => b.interactions - a.interactions || (a.id < b.id ? -1 : 1));
  const buckets = POPULARITY_BUCKETS;
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
  return driftMeasure('item popularity', labels, expected, actual, threshold, minSample);
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
async function sequenceLengthDrift(store: ObjectStore, prepared: PreprocessResult, servedUsers: Set<string>, threshold: number, minSample: number): Promise<DriftMeasure> {
  const expected = new Array<number>(LENGTH_BUCKETS.length).fill(0);
  const actual = new Array<number>(LENGTH_BUCKETS.length).fill(0);
  let known = 0;
  for await (const batch of readBatches(store, artifactOf(prepared, 'sequences'))) {
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
  return driftMeasure('sequence length', LENGTH_BUCKETS.map((b) => b.label), expected, actual, threshold, minSample);
}

export const ONLINE_METRICS: MetricSpec[] = [
  { name: 'hitRate', label: 'hit rate', direction: 'higher', format: 'percent', proportion: { successes: 'hits', trials: 'requests' } },
  { name: 'ctr', label: 'CTR', direction: 'higher', format: 'percent' },
  { name: 'addToCartRate', label: 'add-to-cart', direction: 'higher', format: 'percent' },
  { name: 'purchaseRate', label: 'purchase', direction: 'higher', format: 'percent' },
  { name: 'impressions', label: 'impressions', direction: 'higher', format: 'number' },
  { name: 'unattributedOutcomes', label: 'unattributed outcomes', direction: 'lower', format: 'number' },
];

export const nextItemFeedback: FeedbackHandler = {
  arrow: FEEDBACK_SCHEMA,
  row: FeedbackRow,
  online: ONLINE_METRICS,
  userColumn: 'user_id',
  personal: { user_id: 'identifier' },
  guarded: 'hitRate',
  start(rt, prepared, config) {
    const join = new OnlineMetricsJoin(config.creditWindowHours * 3_600_000);
    return {
      add: (row) => join.add(row as FeedbackEvent),
      endDay: () => join.endDay(),
      perVersion: () => join.metrics(),
      drift: async (thresholdOf, minSample) => ({
        'item-popularity': await itemPopularityDrift(rt.store, prepared, join.outcomeItems, thresholdOf('item-popularity'), minSample),
        'sequence-length': await sequenceLengthDrift(rt.store, prepared, join.servedUsers, thresholdOf('sequence-length'), minSample),
      }),
    };
  },
};
