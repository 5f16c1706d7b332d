/**
 * Fusing a title model's and an image model's class probabilities over the same classes:
 * a weighted log-linear pool (a product of experts), p(c) proportional to
 * p_title(c)^(1 - w) * p_image(c)^w. Either model alone is w = 0 or 1. The weight is the
 * one of a fixed grid with the lowest log-loss on a validation split (never the test split):
 * log-loss rather than accuracy, because on a small validation split many weights tie on
 * accuracy while the log-loss still tells how much each model can be trusted.
 */

/** Probabilities are floored before the logarithm: one model's zero must not veto a class the other is sure of. */
const FLOOR = 1e-6;
export const FUSION_WEIGHTS = Array.from({ length: 11 }, (_, i) => i / 10);

/** Fused probabilities of one row of each (the same classes, the same order). */
export function fuseRow(title: ArrayLike<number>, image: ArrayLike<number>, weight: number): Float32Array {
  const classes = title.length;
  if (image.length !== classes) throw new Error(`fusing ${classes} title classes with ${image.length} image classes`);
  const logits = new Float64Array(classes);
  let max = -Infinity;
  for (let c = 0; c < classes; c++) {
    logits[c] = (1 - weight) * Math.log(Math.max(title[c], FLOOR)) + weight * Math.log(Math.max(image[c], FLOOR));
    max = Math.max(max, logits[c]);
  }
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += logits[c] = Math.exp(logits[c] - max);
  return Float32Array.from(logits, (v) => v / sum);
}

/** Fused rows of row-major [rows, classes] probabilities. */
export function fuseRows(title: Float32Array, image: Float32Array, classes: number, weight: number): Float32Array {
  const out = new Float32Array(title.length);
  for (let r = 0; r < title.length / classes; r++) out.set(fuseRow(title.subarray(r * classes, (r + 1) * classes), image.subarray(r * classes, (r + 1) * classes), weight), r * classes);
  return out;
}

/** The grid weight of the lowest mean log-loss of the fused rows against `labels`; ties go to the smaller weight (the title model). */
export function chooseFusionWeight(title: Float32Array, image: Float32Array, labels: Int32Array, classes: number, grid: readonly number[] = FUSION_WEIGHTS): { weight: number; logLoss: number } {
  let best = { weight: 0, logLoss: Infinity };
  for (const weight of grid) {
    const fused = fuseRows(title, image, classes, weight);
    let loss = 0;
    for (let r = 0; r < labels.length; r++) loss -= Math.log(Math.max(fused[r * classes + labels[r]], FLOOR));
    loss /= Math.max(1, labels.length);
    if (loss < best.logLoss - 1e-12) best = { weight, logLoss: loss };
  }
  return best;
}
