/**
 * Product-matching metrics and the new-product threshold. An offer is matched to its
 * nearest known product; below the threshold it is flagged as a new product instead. The
 * threshold is the one that maximises the F1 of new-product detection on a validation
 * split (never the test split).
 */

export interface MatchResults {
  /** Nearest known product per offer and its similarity. */
  nearest: Int32Array;
  similarity: Float32Array;
}

/** Per offer: the index of its true product among the known ones, or -1 for a product training never saw. */
export type MatchTruth = Int32Array;

function f1(truePositives: number, flagged: number, actual: number): { precision: number; recall: number; f1: number } {
  const precision = flagged > 0 ? truePositives / flagged : 0;
  const recall = actual > 0 ? truePositives / actual : 0;
  return { precision, recall, f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0 };
}

/**
 * The threshold (flag new below it) of the best new-product F1: similarities sorted
 * ascending, every cut between two distinct values tried. With no new product in the
 * split, nothing is flagged (the lowest similarity).
 */
export function chooseNewProductThreshold(similarity: Float32Array, truth: MatchTruth): number {
  const order = Array.from(similarity.keys()).sort((a, b) => similarity[a] - similarity[b]);
  const actual = truth.reduce((n, t) => n + (t < 0 ? 1 : 0), 0);
  if (order.length === 0) return 0;
  if (actual === 0) return similarity[order[0]];
  let best = { f1: -1, threshold: similarity[order[0]] };
  let newBelow = 0;
  for (let k = 1; k <= order.length; k++) {
    if (truth[order[k - 1]] < 0) newBelow++;
    // The cut flags the first k offers: only between distinct similarities.
    if (k < order.length && similarity[order[k]] === similarity[order[k - 1]]) continue;
    const score = f1(newBelow, k, actual).f1;
    const threshold = k < order.length ? similarity[order[k]] : similarity[order[k - 1]] + 1e-6;
    if (score > best.f1) best = { f1: score, threshold };
  }
  return best.threshold;
}

export interface MatchingMetrics {
  /** Offers of known products matched to the right one (nearest product, whatever the threshold). */
  matchTop1: number;
  newProductPrecision: number;
  newProductRecall: number;
  newProductF1: number;
  /** F1 over pairs of offers: "the same product" predicted (both matched to one known product) against true (the same product id). */
  matchPairF1?: number;
}

const pairsOf = (n: number) => (n * (n - 1)) / 2;

/**
 * Pairwise F1 of matching as a clustering of the offers: two offers are predicted to be the
 * same product when both are matched (not flagged new) to the same known product, and are
 * the same product when their product ids are equal (unseen products too). An offer flagged
 * new is a cluster of its own: nothing tells two new offers apart from two new products.
 */
export function pairF1(predicted: Int32Array, productIds: readonly string[]): { precision: number; recall: number; f1: number } {
  const truthSizes = new Map<string, number>();
  const predictedSizes = new Map<number, number>();
  const cellSizes = new Map<string, number>();
  productIds.forEach((id, i) => {
    truthSizes.set(id, (truthSizes.get(id) ?? 0) + 1);
    if (predicted[i] < 0) return;
    predictedSizes.set(predicted[i], (predictedSizes.get(predicted[i]) ?? 0) + 1);
    const cell = `${predicted[i]}\u0000${id}`;
    cellSizes.set(cell, (cellSizes.get(cell) ?? 0) + 1);
  });
  const sum = (sizes: Map<unknown, number>) => [...sizes.values()].reduce((t, n) => t + pairsOf(n), 0);
  return f1(sum(cellSizes), sum(predictedSizes), sum(truthSizes));
}

/** `productIds` (each offer's true product id) adds the pairwise F1. */
export function matchingMetrics({ nearest, similarity }: MatchResults, truth: MatchTruth, threshold: number, productIds?: readonly string[]): MatchingMetrics {
  let known = 0;
  let right = 0;
  let flagged = 0;
  let flaggedNew = 0;
  let actualNew = 0;
  for (let i = 0; i < truth.length; i++) {
    const isNew = truth[i] < 0;
    const flag = similarity[i] < threshold;
    if (isNew) actualNew++;
    else {
      known++;
      if (nearest[i] === truth[i]) right++;
    }
    if (flag) {
      flagged++;
      if (isNew) flaggedNew++;
    }
  }
  const detection = f1(flaggedNew, flagged, actualNew);
  const pairs = productIds && pairF1(Int32Array.from(nearest, (p, i) => (similarity[i] < threshold ? -1 : p)), productIds);
  return { matchTop1: known > 0 ? right / known : 0, newProductPrecision: detection.precision, newProductRecall: detection.recall, newProductF1: detection.f1, ...(pairs ? { matchPairF1: pairs.f1 } : {}) };
}
