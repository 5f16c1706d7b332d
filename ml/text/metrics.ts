/**
 * Classification and routing metrics over row-major class probabilities: accuracy, macro-F1,
 * expected calibration error, and the routing threshold — the lowest confidence at which the
 * texts answered automatically are still right at a target rate — with its coverage.
 */

export interface Predictions {
  /** Predicted class per row and its probability (the confidence). */
  predicted: Int32Array;
  confidence: Float32Array;
}

export function predictionsOf(probabilities: Float32Array, classes: number): Predictions {
  const rows = probabilities.length / classes;
  const predicted = new Int32Array(rows);
  const confidence = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[r * classes + c] > probabilities[r * classes + best]) best = c;
    predicted[r] = best;
    confidence[r] = probabilities[r * classes + best];
  }
  return { predicted, confidence };
}

export function accuracy(labels: Int32Array, predicted: Int32Array): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === predicted[i]) correct++;
  return labels.length > 0 ? correct / labels.length : 0;
}

/** Unweighted mean of the per-class F1 over the classes that occur in the labels or the predictions. */
export function macroF1(labels: Int32Array, predicted: Int32Array, classes: number): number {
  const tp = new Float64Array(classes);
  const fp = new Float64Array(classes);
  const fn = new Float64Array(classes);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] === predicted[i]) tp[labels[i]]++;
    else {
      fp[predicted[i]]++;
      fn[labels[i]]++;
    }
  }
  let sum = 0;
  let present = 0;
  for (let c = 0; c < classes; c++) {
    if (tp[c] + fp[c] + fn[c] === 0) continue;
    present++;
    sum += (2 * tp[c]) / (2 * tp[c] + fp[c] + fn[c]);
  }
  return present > 0 ? sum / present : 0;
}

export const ECE_BINS = 15;

/** Expected calibration error: the |accuracy - mean confidence| of equal-width confidence bins, weighted by their share. */
export function expectedCalibrationError(labels: Int32Array, { predicted, confidence }: Predictions, bins = ECE_BINS): number {
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confidenceSum = new Float64Array(bins);
  for (let i = 0; i < labels.length; i++) {
    const bin = Math.min(bins - 1, Math.floor(confidence[i] * bins));
    count[bin]++;
    confidenceSum[bin] += confidence[i];
    if (predicted[i] === labels[i]) correct[bin]++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b] > 0) ece += (count[b] / labels.length) * Math.abs(correct[b] / count[b] - confidenceSum[b] / count[b]);
  return ece;
}

/**
 * The routing threshold for a target accuracy of the automatic answers: rows sorted by
 * confidence, the largest top share whose accuracy is at least `target`; the threshold is
 * the confidence of its last row. Infinity (everything to a person) when no share reaches it.
 * `correct` says which rows count as right (for out-of-scope rows, none: they should go to a person).
 */
export function routingThreshold(confidence: Float32Array, correct: (row: number) => boolean, target: number): number {
  const order = Array.from(confidence.keys()).sort((a, b) => confidence[b] - confidence[a]);
  let right = 0;
  let threshold = Number.POSITIVE_INFINITY;
  for (let k = 0; k < order.length; k++) {
    if (correct(order[k])) right++;
    // A threshold can only fall between distinct confidences: ties are taken together.
    const next = order[k + 1];
    if (next !== undefined && confidence[next] === confidence[order[k]]) continue;
    if (right / (k + 1) >= target) threshold = confidence[order[k]];
  }
  return threshold;
}

/** Share of rows at or above the threshold (answered automatically) and the accuracy on them. */
export function routingAt(threshold: number, confidence: Float32Array, correct: (row: number) => boolean): { coverage: number; autoAccuracy: number } {
  let auto = 0;
  let right = 0;
  for (let i = 0; i < confidence.length; i++) {
    if (confidence[i] < threshold) continue;
    auto++;
    if (correct(i)) right++;
  }
  return { coverage: confidence.length > 0 ? auto / confidence.length : 0, autoAccuracy: auto > 0 ? right / auto : 0 };
}
