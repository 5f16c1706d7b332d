/**
 * Platt scaling: P(fraud) = sigmoid(slope * logit + intercept), fitted on held-out rows.
 *
 * Chosen over isotonic regression because the validation split of a ~1% fraud problem
 * holds only hundreds of frauds: isotonic regression then overfits into a step function
 * whose flat steps tie many transactions, which discards the ranking within each step
 * (average precision, card precision@k and alert thresholds all depend on it). Platt's two
 * parameters are well estimated from a few hundred positives, and with a positive slope it
 * is strictly increasing, so the calibrated scores rank exactly as the network's logits,
 * on which early stopping chose the model. The distortion to undo is mostly a shift: a
 * positive-class weight w in the loss moves a well-fitted model's logits by about log(w),
 * which is what the intercept absorbs.
 */
import { fitPenalisedLogistic, sigmoid } from './logistic';

export interface PlattCalibration {
  slope: number;
  intercept: number;
}

export const IDENTITY_CALIBRATION: PlattCalibration = { slope: 1, intercept: 0 };

export function calibrate(calibration: PlattCalibration, logit: number): number {
  return sigmoid(calibration.slope * logit + calibration.intercept);
}

/**
 * Platt's (1999) fit, as sklearn's CalibratedClassifierCV(method='sigmoid'): targets
 * (N+ + 1) / (N+ + 2) and 1 / (N- + 2) instead of 1 and 0, so a validation split the
 * model separates perfectly still gives finite parameters.
 */
export function fitPlattScaling(logits: ArrayLike<number>, labels: Uint8Array): PlattCalibration {
  if (logits.length !== labels.length) throw new Error(`${logits.length} logits but ${labels.length} labels`);
  const positives = labels.reduce((n, y) => n + y, 0);
  const negatives = labels.length - positives;
  if (positives === 0 || negatives === 0) throw new Error('Platt scaling needs both classes in the calibration rows');
  const positiveTarget = (positives + 1) / (positives + 2);
  const negativeTarget = 1 / (negatives + 2);
  const design = new Float64Array(labels.length * 2);
  for (let i = 0; i < labels.length; i++) {
    design[2 * i] = logits[i];
    design[2 * i + 1] = 1;
  }
  const targets = Float64Array.from(labels, (y) => (y === 1 ? positiveTarget : negativeTarget));
  const { coefficients } = fitPenalisedLogistic(design, 2, targets, new Float64Array(2));
  if (coefficients[0] > 0) return { slope: coefficients[0], intercept: coefficients[1] };
  // Scores that rank frauds no better than chance on these rows: a negative slope would
  // invert the ranking early stopping chose, so the calibrated model predicts the
  // (smoothed) fraud rate for every row, the intercept-only optimum, and loses to any
  // champion that ranks.
  const rate = targets.reduce((sum, t) => sum + t, 0) / targets.length;
  return { slope: 0, intercept: Math.log(rate / (1 - rate)) };
}
