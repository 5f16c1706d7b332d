/**
 * Full-ranking evaluation as in the sequential-recommendation literature (S3-Rec,
 * ICLRec): score every item, exclude the user's history except the target, rank the
 * target, average HR@K and NDCG@K over all users. Ties count against the target, so a
 * model that scores everything equally gets no credit.
 */
export const CUTOFFS = [10, 20] as const;

export interface RankingMetrics {
  'hr@10': number;
  'ndcg@10': number;
  'hr@20': number;
  'ndcg@20': number;
  users: number;
}

export interface RankingCase {
  /** Items the user interacted with before the target (dense indices, 1-based). */
  history: Int32Array;
  target: number;
}

/** Scores all items (index 0 is padding) for a batch of histories: row-major [batch, items + 1]. */
export type BatchScorer = (histories: Int32Array[]) => Promise<Float32Array>;

/** 0-based rank of `target` among items 1..n-1, ignoring `history` (mutates `scores`). */
export function rankOfTarget(scores: Float32Array, target: number, history: Int32Array): number {
  const targetScore = scores[target];
  for (const item of history) if (item !== target) scores[item] = -Infinity;
  let rank = 0;
  for (let item = 1; item < scores.length; item++) {
    if (item !== target && scores[item] >= targetScore) rank++;
  }
  return rank;
}

export class RankingAccumulator {
  private users = 0;
  private readonly hits = new Map<number, number>();
  private readonly gains = new Map<number, number>();

  add(rank: number): void {
    this.users++;
    for (const k of CUTOFFS) {
      if (rank < k) {
        this.hits.set(k, (this.hits.get(k) ?? 0) + 1);
        this.gains.set(k, (this.gains.get(k) ?? 0) + 1 / Math.log2(rank + 2));
      }
    }
  }

  result(): RankingMetrics {
    const mean = (m: Map<number, number>, k: number) => (this.users === 0 ? 0 : (m.get(k) ?? 0) / this.users);
    return {
      'hr@10': mean(this.hits, 10),
      'ndcg@10': mean(this.gains, 10),
      'hr@20': mean(this.hits, 20),
      'ndcg@20': mean(this.gains, 20),
      users: this.users,
    };
  }
}

export async function evaluateRanking(
  cases: RankingCase[],
  numScores: number,
  scorer: BatchScorer,
  batchSize = 256,
  onProgress?: (done: number) => void,
  /** Each case as it is ranked (index into `cases`), with its scores, the history's items excluded: for metrics per segment, or of the lists. */
  onCase?: (index: number, rank: number, scores: Float32Array) => void,
): Promise<RankingMetrics> {
  const metrics = new RankingAccumulator();
  for (let start = 0; start < cases.length; start += batchSize) {
    const batch = cases.slice(start, start + batchSize);
    const scores = await scorer(batch.map((c) => c.history));
    batch.forEach((c, row) => {
      const rowScores = scores.subarray(row * numScores, (row + 1) * numScores);
      // A target the model has never seen (outside its vocabulary) cannot be ranked: a miss.
      const rank = c.target <= 0 || c.target >= numScores ? Number.POSITIVE_INFINITY : rankOfTarget(rowScores, c.target, c.history);
      metrics.add(rank);
      onCase?.(start + row, rank, rowScores);
    });
    onProgress?.(Math.min(start + batchSize, cases.length));
  }
  return metrics.result();
}

/** The popularity baseline: every user gets the items ranked by training interactions. */
export function popularityScorer(itemCounts: Float32Array): BatchScorer {
  return async (histories) => {
    const out = new Float32Array(histories.length * itemCounts.length);
    histories.forEach((_, row) => out.set(itemCounts, row * itemCounts.length));
    return out;
  };
}
