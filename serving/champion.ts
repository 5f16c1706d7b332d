/**
 * One loaded version of a next-item recommender, ready to answer requests: the tfjs model,
 * the vocabulary that maps the store's item ids to the model's dense indices, the users'
 * item sequences the version was trained from (their known history), and the items by
 * popularity for users without any history.
 *
 * Requests lease the version (acquire/release). After a swap the old version is retired
 * and its tensors are disposed when its last in-flight request has released it.
 */
import { readTable } from '../activities/storage/arrow-io';
import { readVersionManifest, versionPrefix, type VersionManifest } from '../activities/registry/serving-registry';
import { datasetFromTables } from '../activities/model-kinds/next-item/sequences';
import { loadModelBundle } from '../ml/model-bundle';
import type { ObjectStore } from '../activities/storage/object-store';
import type { NextItemModel } from '../ml/next-item-model';

export interface ScoredItem {
  item_id: string;
  score: number;
}

export interface Recommendation {
  /** `model`: ranked by the recommender after the history; `popular`: no known history, so the most interacted items (score = interactions). */
  strategy: 'model' | 'popular';
  items: ScoredItem[];
}

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

/**
 * Scores the histories of concurrent requests in one model call: requests that arrive in the
 * same turn of the event loop share a batch, which costs little more than a single history.
 */
class ScoringBatcher {
  private queue: { history: Int32Array; resolve: (row: Float32Array) => void; reject: (error: unknown) => void }[] = [];
  private running = false;

  constructor(
    private readonly model: NextItemModel,
    private readonly maxBatch: number,
  ) {}

  score(history: Int32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ history, resolve, reject });
      if (this.running) return; // the running loop picks it up with the next batch
      this.running = true;
      setImmediate(() => void this.run());
    });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const scores = await this.model.scoreNext(batch.map((b) => b.history));
        const width = scores.length / batch.length;
        batch.forEach((b, row) => b.resolve(scores.subarray(row * width, (row + 1) * width)));
      } catch (error) {
        for (const b of batch) b.reject(error);
      }
    }
    this.running = false;
  }
}

export class LoadedChampion {
  private readonly indexOf: Map<string, number>;
  /** Dense indices by interactions, most first. */
  private readonly popularity: Int32Array;
  private readonly batcher: ScoringBatcher;
  private leases = 0;
  private retired = false;

  constructor(
    readonly manifest: VersionManifest,
    private readonly model: NextItemModel,
    private readonly itemIds: string[],
    private readonly itemCounts: number[],
    private readonly histories: Map<string, Int32Array>,
    maxBatch: number,
  ) {
    this.indexOf = new Map(itemIds.map((id, i) => [id, i + 1]));
    this.popularity = Int32Array.from(itemIds.keys(), (i) => i + 1).sort((a, b) => itemCounts[b - 1] - itemCounts[a - 1] || a - b);
    this.batcher = new ScoringBatcher(model, maxBatch);
  }

  get version(): string {
    return this.manifest.version;
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

  acquire(): this {
    this.leases++;
    return this;
  }

  release(): void {
    this.leases--;
    this.disposeWhenIdle();
  }

  /** No new leases will come; the tensors go once the in-flight requests are done. */
  retire(): void {
    this.retired = true;
    this.disposeWhenIdle();
  }

  private disposeWhenIdle(): void {
    if (this.retired && this.leases === 0) this.model.dispose();
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

  /** The k best items after `history`, none of which the history already holds. */
  async recommend(history: Int32Array, k: number): Promise<Recommendation> {
    const seen = new Set(history);
    if (history.length === 0) {
      const items: ScoredItem[] = [];
      for (const index of this.popularity.subarray(0, k)) items.push({ item_id: this.itemIds[index - 1], score: this.itemCounts[index - 1] });
      return { strategy: 'popular', items };
    }
    const scores = await this.batcher.score(history.subarray(Math.max(0, history.length - this.maxLen)));
    const best = topK(scores, k, seen);
    return { strategy: 'model', items: best.map((b) => ({ item_id: this.itemIds[b.index - 1], score: b.score })) };
  }
}

/**
 * Reads a published version: manifest, model bundle, vocabulary, and the sequences artifact
 * named in its lineage (the users' histories as of its training data).
 */
export async function loadChampion(store: ObjectStore, model: string, version: string, maxBatch = 64): Promise<LoadedChampion> {
  const prefix = versionPrefix(model, version);
  const manifest = await readVersionManifest(store, model, version);
  const [bundle, vocabulary, sequences] = await Promise.all([
    loadModelBundle(store, `${prefix}/model.json`),
    readTable(store, `${prefix}/vocabulary.arrow`),
    readTable(store, store.keyOf(manifest.lineage.sequences)),
  ]);
  const data = datasetFromTables(vocabulary, sequences);
  if (data.itemIds.length !== bundle.model.config.numItems) {
    bundle.model.dispose();
    throw new Error(`${prefix}: vocabulary has ${data.itemIds.length} items, the model ${bundle.model.config.numItems}`);
  }
  const histories = new Map(data.userIds.map((user, i) => [user, data.sequences[i]]));
  return new LoadedChampion(manifest, bundle.model, data.itemIds, data.itemCounts, histories, maxBatch);
}
