/**
 * The next-item kind's serving handler. A loaded version is the tfjs model, the vocabulary
 * that maps the store's item ids to the model's dense indices, the users' item sequences the
 * version was trained from (their known history), and the items by popularity for users
 * without any history.
 *
 *   GET  /recommendations?user=&k=     a known user's next items (history: training sequence + recent feedback);
 *                                      `path: "precomputed"` when read from the top items deploy computed, "online" when scored now
 *   POST /recommendations              {items: [...], k, session?} for an anonymous session (always "online")
 *   POST /feedback                     {type, user, item, request_id?, position?, timestamp?} or an array of them
 *
 * ?explain=true on either GET or POST adds explanation: each history item the model read, by
 * how much the top item's score drops when that item is left out of the history (occlusion);
 * null for a `popular` answer, which reads no history.
 */
import { readTable } from '../../storage/arrow-io';
import { datasetFromTables } from './sequences';
import { RecentActivity } from './recent-activity';
import { createNextItemModel } from '../../../ml/sequence/models';
import { parseFeedbackBody, RecommendationQuery, SessionRecommendationBody } from '../../../schemas/serving';
import type { NextItemModel, NextItemModelConfig } from '../../../ml/sequence/next-item-model';
import { PRECOMPUTED_K, TOP_ITEMS, precomputedAnswers, topItemsTable, type PrecomputedAnswer } from './precomputed';
import { SCORING_ROUTE, type KindRuntime, type ModelUnderTest, type ServingHandler, type VersionToLoad } from '../contract';
import type { ArtifactRef } from '../../../schemas/artifacts';
import { occlusion } from '../../../ml/explain';
import * as tf from '@tensorflow/tfjs';

export interface ScoredItem {
  item_id: string;
  score: number;
}

export interface Recommendation {
  /** `model`: ranked by the recommender after the history; `popular`: no known history, so the most interacted items (score = interactions). */
  strategy: 'model' | 'popular';
  items: ScoredItem[];
}

/** How a known user's answer was made: read from the version's precomputed top items, or scored now. */
export type AnswerPath = 'precomputed' | 'online';

/** The k highest-scoring dense indices, best first, skipping `excluded` and padding (0). */
export function topK(scores: Float32Array, k: number, excluded: ReadonlySet<number>): { index: number; score: number }[] {
  const best: { index: number; score: number }[] = [];
  for (let index = 1; index < scores.length; index++) {
    const score = scores[index];
    if (best.length === k && score <= best[k - 1].score) continue;
    if (excluded.has(index)) continue;
    let at = best.length;
    while (at > 0 && best[at - 1].score < score) at--;
    best.splice(at, 0, { index, score });
    if (best.length > k) best.pop();
  }
  return best;
}

export class LoadedRecommender {
  private readonly indexOf: Map<string, number>;
  /** Dense indices by interactions, most first. */
  private readonly popularity: Int32Array;

  constructor(
    readonly model: NextItemModel,
    private readonly itemIds: string[],
    private readonly itemCounts: number[],
    private readonly histories: Map<string, Int32Array>,
    /** One history's scores over every dense index: the host's batcher around the model, or the model alone. */
    private readonly score: (history: Int32Array) => Promise<Float32Array>,
    /** Known users' top items computed at deploy; empty for a version published without them. */
    private readonly precomputed: ReadonlyMap<string, PrecomputedAnswer> = new Map(),
  ) {
    this.indexOf = new Map(itemIds.map((id, i) => [id, i + 1]));
    this.popularity = Int32Array.from(itemIds.keys(), (i) => i + 1).sort((a, b) => itemCounts[b - 1] - itemCounts[a - 1] || a - b);
  }

  /** Users whose answer is precomputed. */
  get precomputedUsers(): number {
    return this.precomputed.size;
  }

  get maxLen(): number {
    return this.model.config.maxLen;
  }

  get numItems(): number {
    return this.itemIds.length;
  }

  get users(): number {
    return this.histories.size;
  }

  /** Up to `limit` users this version has a history for. */
  knownUsers(limit: number): string[] {
    return [...this.histories.keys()].slice(0, limit);
  }

  /** Store item ids of dense indices. */
  decode(indices: ArrayLike<number>): string[] {
    return Array.from(indices, (index) => this.itemIds[index - 1]);
  }

  /** Dense indices of item ids in this version's vocabulary; ids it does not know are returned apart. */
  encode(itemIds: readonly string[]): { indices: number[]; unknown: string[] } {
    const indices: number[] = [];
    const unknown: string[] = [];
    for (const id of itemIds) {
      const index = this.indexOf.get(id);
      if (index === undefined) unknown.push(id);
      else indices.push(index);
    }
    return { indices, unknown };
  }

  /**
   * A user's history: the sequence this version was trained from, then the items of events
   * the service saw since (already dense indices), with repeats in a row collapsed as in preprocessing.
   */
  historyOf(user: string, recent: readonly number[]): Int32Array {
    const known = this.histories.get(user) ?? new Int32Array(0);
    const items = Array.from(known);
    for (const item of recent) if (items[items.length - 1] !== item) items.push(item);
    return Int32Array.from(items);
  }

  /**
   * Leave-one-out occlusion of the history the model reads (its last maxLen items) for the
   * score of `item`: per position, score(history) - score(history without it), all in one
   * model call. Occlusion rather than gradients: item ids are discrete, and dropping an item
   * is the counterfactual a person asks about ("would I still see this without X?").
   */
  async explain(history: Int32Array, itemId: string): Promise<{ input: string; position: number; attribution: number }[]> {
    const item = this.indexOf.get(itemId);
    const read = history.subarray(Math.max(0, history.length - this.maxLen));
    if (item === undefined || read.length === 0) return [];
    const attributions = await occlusion((sequences) => this.model.scoreNext(sequences), read, item, this.numItems + 1);
    const offset = history.length - read.length;
    return Array.from(read, (index, p) => ({ input: this.itemIds[index - 1], position: offset + p, attribution: attributions[p] })).sort(
      (a, b) => Math.abs(b.attribution) - Math.abs(a.attribution),
    );
  }

  /** The k best items after `history`, none of which the history already holds. */
  async recommend(history: Int32Array, k: number): Promise<Recommendation> {
    const seen = new Set(history);
    if (history.length === 0) {
      const items: ScoredItem[] = [];
      for (const index of this.popularity.subarray(0, k)) items.push({ item_id: this.itemIds[index - 1], score: this.itemCounts[index - 1] });
      return { strategy: 'popular', items };
    }
    const scores = await this.score(history.subarray(Math.max(0, history.length - this.maxLen)));
    const best = topK(scores, k, seen);
    return { strategy: 'model', items: best.map((b) => ({ item_id: this.itemIds[b.index - 1], score: b.score })) };
  }

  /**
   * A user's k best items: the precomputed answer while it is still theirs (no events since the
   * version's data, and k within what was kept), else scored now from the joined history.
   */
  async recommendUser(user: string, recent: readonly string[], k: number): Promise<Recommendation & { path: AnswerPath }> {
    const stored = recent.length === 0 && k <= PRECOMPUTED_K ? this.precomputed.get(user) : undefined;
    if (stored) {
      const items = Array.from(stored.items.subarray(0, k), (index, i) => ({ item_id: this.itemIds[index - 1], score: stored.scores[i] }));
      return { strategy: 'model', items, path: 'precomputed' };
    }
    return { ...(await this.recommend(this.historyOf(user, this.encode(recent).indices), k)), path: 'online' };
  }
}

/** Scores of each history in one model call, split per history. */
async function scoreEach(model: NextItemModel, histories: Int32Array[]): Promise<Float32Array[]> {
  const scores = await model.scoreNext(histories);
  const width = scores.length / histories.length;
  return histories.map((_, row) => scores.subarray(row * width, (row + 1) * width));
}

/** Users scored per model call while precomputing. */
const PRECOMPUTE_BATCH = 256;

/** The kind's `precompute`: every known user's top PRECOMPUTED_K items with this version's model, as GET would rank them (precomputed.ts). */
export async function precomputeTopItems(rt: KindRuntime, target: ModelUnderTest): Promise<Record<string, ArtifactRef>> {
  const model = modelFromBundle(target.bundle.config, target.bundle.tensors);
  try {
    const data = datasetFromTables(await rt.readTable(target.artifactKey('vocabulary')), await rt.readTable(target.artifactKey('sequences')));
    const columns: { user_id: string[]; items: number[][]; scores: number[][] } = { user_id: [], items: [], scores: [] };
    // A user without history is answered by popularity, which needs no precomputing.
    const known = data.userIds.flatMap((user, i) => (data.sequences[i].length > 0 ? [{ user, history: data.sequences[i] }] : []));
    for (let start = 0; start < known.length; start += PRECOMPUTE_BATCH) {
      const batch = known.slice(start, start + PRECOMPUTE_BATCH);
      const scores = await scoreEach(model, batch.map(({ history }) => history.subarray(Math.max(0, history.length - model.config.maxLen))));
      batch.forEach(({ user, history }, row) => {
        const best = topK(scores[row], PRECOMPUTED_K, new Set(history));
        columns.user_id.push(user);
        columns.items.push(best.map((b) => b.index));
        columns.scores.push(best.map((b) => b.score));
      });
      rt.heartbeat({ precomputing: TOP_ITEMS, users: start + batch.length, of: known.length });
    }
    rt.log.info({ users: known.length, k: PRECOMPUTED_K }, "known users' top items precomputed");
    return { [TOP_ITEMS]: await rt.putTable(TOP_ITEMS, topItemsTable(target.bundle.weightsSha256, columns)) };
  } finally {
    model.dispose();
  }
}

/** Rebuilds a next-item model from its bundle (the tensors are copied into the model's variables, then freed). */
export function modelFromBundle(config: Record<string, unknown>, tensors: Record<string, tf.Tensor>): NextItemModel {
  const model = createNextItemModel(config as unknown as NextItemModelConfig, tensors);
  tf.dispose(Object.values(tensors));
  return model;
}

/** A published version: the bundle, its vocabulary, and the sequences artifact named in its lineage (the users' histories as of its training data). */
export async function loadRecommender({ store, bundle, artifactKey, hasArtifact, batch }: Pick<VersionToLoad, 'store' | 'bundle' | 'artifactKey' | 'hasArtifact' | 'batch'>): Promise<LoadedRecommender> {
  const model = modelFromBundle(bundle.config, bundle.tensors);
  try {
    const [vocabulary, sequences, topItems] = await Promise.all([
      readTable(store, artifactKey('vocabulary')),
      readTable(store, artifactKey('sequences')),
      hasArtifact(TOP_ITEMS) ? readTable(store, artifactKey(TOP_ITEMS)) : null,
    ]);
    const data = datasetFromTables(vocabulary, sequences);
    if (data.itemIds.length !== model.config.numItems) throw new Error(`vocabulary has ${data.itemIds.length} items, the model ${model.config.numItems}`);
    const histories = new Map(data.userIds.map((user, i) => [user, data.sequences[i]]));
    const score = batch((many: Int32Array[]) => scoreEach(model, many));
    return new LoadedRecommender(model, data.itemIds, data.itemCounts, histories, score, topItems ? precomputedAnswers(topItems, bundle.weightsSha256) : undefined);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Enough to exclude what a user saw lately; the model itself reads only its last maxLen items. */
const RECENT_ITEMS_PER_USER = 200;
/** Users whose recent feedback events are remembered for their next requests. */
const RECENT_USERS = 100_000;

/** The recommendation, with its explanation of `history` when the request asked for one. */
async function explained<R extends Recommendation>(champion: LoadedRecommender, recommendation: R, history: () => Int32Array, explain: boolean) {
  if (!explain) return recommendation;
  const top = recommendation.items[0];
  return { ...recommendation, explanation: recommendation.strategy === 'model' && top ? { item_id: top.item_id, history: await champion.explain(history(), top.item_id) } : null };
}

export const nextItemServing: ServingHandler<LoadedRecommender> = {
  explanation: { method: 'occlusion', attributes: "history items -> the top item's score (dropped when the item is left out)" },
  load: loadRecommender,
  dispose: (loaded) => loaded.model.dispose(),
  describe: (loaded) => ({ users: loaded.users, items: loaded.numItems, precomputedUsers: loaded.precomputedUsers, precomputedK: PRECOMPUTED_K }),
  sampleRequest: (loaded) => ({ method: 'GET', url: `/recommendations?user=${encodeURIComponent(loaded.knownUsers(1)[0] ?? 'anonymous')}&k=10` }),
  routes(app, host) {
    // Kept by store item id, not dense index, so it survives a swap to a version with another vocabulary.
    const recent = new RecentActivity(RECENT_USERS, RECENT_ITEMS_PER_USER);
    /** One impression per item shown, in the order shown. */
    const impressions = (user: string, items: ScoredItem[], requestId: string, timestamp?: number) =>
      items.map((item, position) => ({ type: 'impression', user_id: user, item_id: item.item_id, request_id: requestId, position, timestamp: timestamp ?? Date.now() }));

    app.get('/recommendations', async (request, reply) => {
      const query = host.parse(RecommendationQuery, request.query);
      // Histories are stored by the user's pseudonym (the id itself without a pseudonym key).
      const user = host.pseudonymOf(query.user);
      return host.serve(request, reply, async (champion) => {
        const since = recent.itemsOf(user);
        const history = () => champion.historyOf(user, champion.encode(since).indices);
        const recommendation = await explained(champion, await champion.recommendUser(user, since, query.k), history, host.explains(request));
        return { body: { ...recommendation, user: query.user }, logged: impressions(user, recommendation.items, request.id, query.timestamp) };
      });
    });

    app.post('/recommendations', SCORING_ROUTE, async (request, reply) => {
      const body = host.parse(SessionRecommendationBody, request.body);
      return host.serve(request, reply, async (champion) => {
        const { indices, unknown } = champion.encode(body.items);
        const history = Int32Array.from(indices);
        const recommendation = await explained(champion, { ...(await champion.recommend(history, body.k)), path: 'online' as AnswerPath }, () => history, host.explains(request));
        // Unknown items (new since training, or mistyped) cannot inform the model; say which were ignored.
        return { body: { ...recommendation, ignored_items: unknown }, logged: impressions(body.session ?? 'anonymous', recommendation.items, request.id, body.timestamp) };
      });
    });

    app.post('/feedback', async (request, reply) => {
      const events = host.check(parseFeedbackBody(request.body));
      await host.logFeedback(
        events.map((e) => ({
          type: e.type,
          model_version: host.creditedVersion(e.request_id),
          user_id: e.user,
          item_id: e.item,
          request_id: e.request_id ?? null,
          position: e.position ?? null,
          timestamp: e.timestamp ?? Date.now(),
        })),
      );
      for (const e of events) recent.record(host.pseudonymOf(e.user), e.item);
      return reply.status(202).send({ request_id: request.id, accepted: events.length });
    });
  },
};
