/**
 * Per-input attributions for one prediction, the host's mechanism behind `?explain=true`
 * and the run report's global explanations (README, "Explanations").
 *
 * A model is given as `score`: a batch of inputs [n, ...shape] to one scalar each [n] (the
 * logit or log-odds being explained), written with TensorFlow.js ops so tf.grad can
 * differentiate it. Two methods:
 * - gradient x input: x * d score / d x at x, one backward pass; exact for a linear model
 *   (then it is weight x input), first order otherwise.
 * - integrated gradients (Sundararajan et al., 2017): (x - x') times the mean gradient on the
 *   straight path from a baseline x' to x, midpoint rule; the attributions add up to
 *   score(x) - score(x') (completeness) as the steps grow. All steps go in one batch.
 * An embedding input (a [positions, width] tensor of token or item vectors) is attributed
 * per position by summing its row: `perPosition`. Discrete sequences (item ids) are explained
 * by `occlusion` instead.
 *
 * A kind whose served model is a tfjs graph calls these directly. The risk and text scorers
 * serve plain-JavaScript forward passes, and carry hand-written copies of the same
 * computation (one backward pass costs less than the tfjs dispatch);
 * test/unit/explain.test.ts checks each copy against these.
 */
import * as tf from '@tensorflow/tfjs';

/** A differentiable model: inputs [n, ...shape] to one score per input [n]. */
export type BatchScore = (inputs: tf.Tensor) => tf.Tensor1D;

/** Path steps of integrated gradients by default: completeness within about 1% on the kinds' small networks. */
export const DEFAULT_PATH_STEPS = 32;

/** x * gradient of `score` at x, for one input of any shape; flat, in x's row-major order. */
export function gradientTimesInput(score: BatchScore, input: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    const batch = input.expandDims(0);
    const gradient = tf.grad((x: tf.Tensor) => score(x).sum())(batch);
    return gradient.mul(batch).dataSync() as Float32Array;
  });
}

/** Integrated gradients of `score` from `baseline` (zeros when omitted) to `input`; flat, in row-major order. */
export function integratedGradients(score: BatchScore, input: tf.Tensor, baseline?: tf.Tensor, steps = DEFAULT_PATH_STEPS): Float32Array {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`steps must be a positive integer, got ${steps}`);
  return tf.tidy(() => {
    const start = baseline ?? tf.zerosLike(input);
    if (start.shape.join() !== input.shape.join()) throw new Error(`baseline shape [${start.shape.join()}] is not the input's [${input.shape.join()}]`);
    const delta = input.sub(start);
    const alphas = tf.linspace(0.5 / steps, 1 - 0.5 / steps, steps).reshape([steps, ...input.shape.map(() => 1)]);
    const path = start.expandDims(0).add(alphas.mul(delta.expandDims(0)));
    const gradients = tf.grad((x: tf.Tensor) => score(x).sum())(path);
    return gradients.mean(0).mul(delta).dataSync() as Float32Array;
  });
}

/** Row sums of flat [positions, width] attributions: one attribution per token or item. */
export function perPosition(attributions: ArrayLike<number>, positions: number): Float64Array {
  if (positions < 1 || attributions.length % positions !== 0) throw new Error(`${attributions.length} attributions do not split into ${positions} positions`);
  const width = attributions.length / positions;
  const out = new Float64Array(positions);
  for (let p = 0; p < positions; p++) for (let w = 0; w < width; w++) out[p] += attributions[p * width + w];
  return out;
}

/** One named input's share of a prediction (a feature, a token, a history item). */
export interface Attribution {
  input: string;
  attribution: number;
}

/** The `top` attributions of largest magnitude, largest first (all when `top` is omitted). */
export function ranked(names: readonly string[], attributions: ArrayLike<number>, top = names.length): Attribution[] {
  if (names.length !== attributions.length) throw new Error(`${names.length} names for ${attributions.length} attributions`);
  return names
    .map((input, i) => ({ input, attribution: attributions[i] }))
    .sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution))
    .slice(0, top);
}

/**
 * Global explanation: per input name, the mean |attribution| over the explained cases (a
 * name absent from a case counts 0 there), largest first. What the run report shows.
 */
export function meanAbsoluteAttribution(cases: readonly Attribution[][], top: number): { input: string; meanAbs: number; cases: number }[] {
  const sums = new Map<string, { sum: number; cases: number }>();
  for (const explained of cases) {
    for (const { input, attribution } of explained) {
      const entry = sums.get(input) ?? { sum: 0, cases: 0 };
      entry.sum += Math.abs(attribution);
      entry.cases++;
      sums.set(input, entry);
    }
  }
  const n = Math.max(1, cases.length);
  return [...sums]
    .map(([input, { sum, cases: seen }]) => ({ input, meanAbs: sum / n, cases: seen }))
    .sort((a, b) => b.meanAbs - a.meanAbs || a.input.localeCompare(b.input))
    .slice(0, top);
}

/** Cases explained for a global explanation: a few hundred keep it at a few hundred serving explanations' cost. */
export const GLOBAL_EXPLANATION_CASES = 300;
/** Inputs a global explanation lists. */
export const GLOBAL_EXPLANATION_TOP = 10;

/** `count` indices spread evenly over 0..total-1 (all when fewer): a deterministic sample of a split. */
export function evenSample(total: number, count = GLOBAL_EXPLANATION_CASES): number[] {
  if (total <= count) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor((i * total) / count));
}

/** A global explanation from the explained cases (schemas/steps.ts's GlobalExplanation). */
export function globalExplanation(method: string, of: string, cases: readonly Attribution[][], top = GLOBAL_EXPLANATION_TOP) {
  return { method, of, cases: cases.length, top: meanAbsoluteAttribution(cases, top).map(({ input, meanAbs }) => ({ input, meanAbs })) };
}

/**
 * Leave-one-out occlusion of a sequence (item ids, a discrete input gradients do not apply to)
 * for the score of `target`: per position, score(sequence) - score(sequence without it), all
 * sequences in one call of `score` (row-major [sequences, width] scores).
 */
export async function occlusion(score: (sequences: Int32Array[]) => Promise<Float32Array>, sequence: Int32Array, target: number, width: number): Promise<Float64Array> {
  if (sequence.length === 0) return new Float64Array(0);
  const without = Array.from(sequence, (_, p) => Int32Array.from([...sequence.subarray(0, p), ...sequence.subarray(p + 1)]));
  const scores = await score([sequence, ...without]);
  return Float64Array.from(sequence, (_, p) => scores[target] - scores[(p + 1) * width + target]);
}
