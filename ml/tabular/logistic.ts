/**
 * The transaction-risk baseline: L2-regularised logistic regression on standardised
 * features, the objective of sklearn's default LogisticRegression (C = 1, intercept not
 * penalised), fitted by Newton's method. With ~15 features the Hessian is 16 x 16, so each
 * iteration is one pass over the rows plus a Cholesky solve, and the fit is exact to the
 * tolerance and deterministic (no learning rate, no batch order, no backend).
 */
import { z } from 'zod';
import { checkFeatureMatrix, fitStandardizer, standardize, type StandardizerParams } from './standardizer';
import { topContributions, type FeatureContribution, type FraudScorer } from './scorer';

export const LogisticHyperparameters = z
  .object({
    /** Inverse L2 strength, as sklearn's C: the objective is sum(log loss) + |w|^2 / (2C). */
    C: z.number().positive().default(1),
    maxIterations: z.number().int().min(1).max(1000).default(100),
  })
  .strict();
export type LogisticHyperparameters = z.output<typeof LogisticHyperparameters>;

/** log(1 + e^z) without overflow. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export interface PenalisedLogisticFit {
  coefficients: Float64Array;
  iterations: number;
}

/** The solution s of H s = g for a symmetric positive definite H (row-major d x d). */
function choleskySolve(hessian: Float64Array, gradient: Float64Array, d: number): Float64Array {
  const lower = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = hessian[i * d + j];
      for (let k = 0; k < j; k++) sum -= lower[i * d + k] * lower[j * d + k];
      if (i === j) {
        if (!(sum > 0)) throw new Error('the logistic Hessian is not positive definite (a column is constant or duplicated, or the classes are separable without a penalty)');
        lower[i * d + i] = Math.sqrt(sum);
      } else lower[i * d + j] = sum / lower[j * d + j];
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = gradient[i];
    for (let k = 0; k < i; k++) sum -= lower[i * d + k] * y[k];
    y[i] = sum / lower[i * d + i];
  }
  const step = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let sum = y[i];
    for (let k = i + 1; k < d; k++) sum -= lower[k * d + i] * step[k];
    step[i] = sum / lower[i * d + i];
  }
  return step;
}

/**
 * Minimises sum_i [softplus(z_i) - t_i z_i] + 1/2 sum_j penalty_j b_j^2 with z = X b, for
 * the row-major design `X` ([rows, columns]) and targets t in [0, 1] (soft targets allow
 * Platt scaling's). Newton steps with backtracking, until a step no longer changes the
 * coefficients.
 */
export function fitPenalisedLogistic(design: Float64Array, columns: number, targets: Float64Array, penalty: Float64Array, maxIterations = 100): PenalisedLogisticFit {
  const rows = targets.length;
  if (design.length !== rows * columns || penalty.length !== columns) throw new Error('design, targets and penalty sizes disagree');
  const coefficients = new Float64Array(columns);
  const logits = new Float64Array(rows);
  const objective = (b: Float64Array): number => {
    let value = 0;
    for (let i = 0; i < rows; i++) {
      let z = 0;
      for (let j = 0; j < columns; j++) z += design[i * columns + j] * b[j];
      logits[i] = z;
      value += softplus(z) - targets[i] * z;
    }
    for (let j = 0; j < columns; j++) value += 0.5 * penalty[j] * b[j] * b[j];
    return value;
  };
  let current = objective(coefficients);
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const gradient = Float64Array.from(penalty, (p, j) => p * coefficients[j]);
    const hessian = new Float64Array(columns * columns);
    for (let j = 0; j < columns; j++) hessian[j * columns + j] = penalty[j];
    for (let i = 0; i < rows; i++) {
      const p = sigmoid(logits[i]);
      const residual = p - targets[i];
      const weight = p * (1 - p);
      const offset = i * columns;
      for (let j = 0; j < columns; j++) {
        const xj = design[offset + j];
        gradient[j] += residual * xj;
        const wxj = weight * xj;
        for (let k = 0; k <= j; k++) hessian[j * columns + k] += wxj * design[offset + k];
      }
    }
    for (let j = 0; j < columns; j++) for (let k = 0; k < j; k++) hessian[k * columns + j] = hessian[j * columns + k];
    const step = choleskySolve(hessian, gradient, columns);
    // Near the minimum the Newton step is the distance to it: stop once it moves no coefficient past its 10th digit.
    if (step.every((s, j) => Math.abs(s) <= 1e-10 * (1 + Math.abs(coefficients[j])))) return { coefficients, iterations: iteration };
    const decrement = step.reduce((sum, s, j) => sum + s * gradient[j], 0);
    // Backtracking (Armijo): a full Newton step can overshoot while far from the minimum.
    // Close to it the predicted decrease is below the objective's rounding, so the test
    // cannot be trusted there and the full step is taken.
    let length = 1;
    let candidate = Float64Array.from(coefficients, (b, j) => b - step[j]);
    let value = objective(candidate);
    const trustFullStep = decrement < 1e-8 * Math.max(1, Math.abs(current));
    while (!trustFullStep && value > current - 0.25 * length * decrement && length > 1e-10) {
      length /= 2;
      candidate = Float64Array.from(coefficients, (b, j) => b - length * step[j]);
      value = objective(candidate);
    }
    coefficients.set(candidate);
    current = value;
  }
  throw new Error(`logistic regression did not converge in ${maxIterations} Newton iterations`);
}

export interface LinearModelConfig {
  kind: 'logistic';
  featureNames: string[];
  standardizer: StandardizerParams;
  /** Per standardised feature. */
  coefficients: number[];
  intercept: number;
  C: number;
}

/** Logistic regression as a FraudScorer; its probabilities need no calibration step. */
export class LinearFraudModel implements FraudScorer {
  constructor(readonly config: LinearModelConfig) {
    if (config.coefficients.length !== config.featureNames.length || config.standardizer.mean.length !== config.featureNames.length) {
      throw new Error('coefficients, standardizer and feature names disagree in length');
    }
  }

  /** Log-odds of fraud per row of the raw features. */
  logits(x: Float32Array, rows: number): Float64Array {
    const { coefficients, intercept, standardizer } = this.config;
    const features = coefficients.length;
    checkFeatureMatrix(x, features, rows);
    const standardized = standardize(standardizer, x);
    return Float64Array.from({ length: rows }, (_, row) => {
      let z = intercept;
      for (let j = 0; j < features; j++) z += coefficients[j] * standardized[row * features + j];
      return z;
    });
  }

  predict(x: Float32Array, rows: number): Float32Array {
    return Float32Array.from(this.logits(x, rows), sigmoid);
  }

  /** Exact for a linear model: w_j times the standardised feature, the log-odds change from the feature's training mean. */
  explain(x: Float32Array, rows: number, topK: number): FeatureContribution[][] {
    const { coefficients, standardizer, featureNames } = this.config;
    checkFeatureMatrix(x, coefficients.length, rows);
    const contributions = standardize(standardizer, x).map((value, i) => value * coefficients[i % coefficients.length]);
    return topContributions(contributions, rows, featureNames, topK);
  }
}

export interface LogisticFitOptions {
  hyperparameters: LogisticHyperparameters;
  featureNames: string[];
  train: { x: Float32Array; y: Uint8Array };
}

export function fitLogisticBaseline({ hyperparameters: hp, featureNames, train }: LogisticFitOptions): LinearFraudModel {
  const features = featureNames.length;
  const rows = train.y.length;
  checkFeatureMatrix(train.x, features, rows);
  const standardizer = fitStandardizer(train.x, features);
  const standardized = standardize(standardizer, train.x);
  // The intercept is the last column, unpenalised, as in sklearn.
  const columns = features + 1;
  const design = new Float64Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; j < features; j++) design[row * columns + j] = standardized[row * features + j];
    design[row * columns + features] = 1;
  }
  const penalty = new Float64Array(columns).fill(1 / hp.C);
  penalty[features] = 0;
  const { coefficients } = fitPenalisedLogistic(design, columns, Float64Array.from(train.y), penalty, hp.maxIterations);
  return new LinearFraudModel({
    kind: 'logistic',
    featureNames: [...featureNames],
    standardizer,
    coefficients: Array.from(coefficients.subarray(0, features)),
    intercept: coefficients[features],
    C: hp.C,
  });
}
