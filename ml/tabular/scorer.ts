/** What every transaction-risk model offers serving: calibrated probabilities and per-row explanations. */

export interface FeatureContribution {
  feature: string;
  /** Change of the calibrated log-odds of fraud attributed to this feature (positive: towards fraud). */
  contribution: number;
}

export interface FraudScorer {
  /** Calibrated P(fraud) for each of `rows` rows of the row-major raw features `x`. */
  predict(x: Float32Array, rows: number): Float32Array;
  /** Per row, the `topK` features with the largest absolute contribution, largest first. */
  explain(x: Float32Array, rows: number, topK: number): FeatureContribution[][];
}

/** The `topK` largest |contribution| of each row of the row-major [rows, features] `contributions`. */
export function topContributions(contributions: ArrayLike<number>, rows: number, featureNames: string[], topK: number): FeatureContribution[][] {
  const features = featureNames.length;
  if (!Number.isInteger(topK) || topK < 1) throw new Error(`topK must be a positive integer, got ${topK}`);
  const result: FeatureContribution[][] = [];
  for (let row = 0; row < rows; row++) {
    const ranked = featureNames.map((feature, j) => ({ feature, contribution: contributions[row * features + j] }));
    ranked.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution));
    result.push(ranked.slice(0, topK));
  }
  return result;
}
