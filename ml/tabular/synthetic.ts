/**
 * Synthetic imbalanced transaction-risk data with a known answer, for tests and
 * measurements: standard normal latent features, each exposed at its own scale and offset
 * (as amounts, counts and ratios are), and a fraud probability that is a known function of
 * the latent features, with the intercept solved so that the mean probability is the
 * requested fraud rate. Labels are Bernoulli draws from that probability.
 */
import { seededRng, type Rng } from '../random';
import { sigmoid } from './logistic';

/**
 * linear: log-odds 3 z0 + 1 z1 - 1 z2, so z0 drives the label. interaction: log-odds
 * 2.5 z0 z1 + 1.5 (z2^2 - 1) + 1 z3, which a linear model can only partly (z3) capture.
 */
export type SyntheticSignal = 'linear' | 'interaction';

export interface SyntheticFraudOptions {
  rows: number;
  features?: number;
  fraudRate?: number;
  signal: SyntheticSignal;
  seed: string | number;
}

export interface SyntheticFraudData {
  featureNames: string[];
  x: Float32Array;
  y: Uint8Array;
  /** The true P(fraud) of each row. */
  probability: Float64Array;
}

function standardNormal(rng: Rng): number {
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function signalOf(kind: SyntheticSignal, z: Float64Array): number {
  return kind === 'linear' ? 3 * z[0] + z[1] - z[2] : 2.5 * z[0] * z[1] + 1.5 * (z[2] * z[2] - 1) + z[3];
}

/** The intercept b with mean(sigmoid(b + signal)) = rate, by bisection (the mean is increasing in b). */
function interceptForRate(signals: Float64Array, rate: number): number {
  let low = -50;
  let high = 50;
  for (let i = 0; i < 100; i++) {
    const mid = (low + high) / 2;
    const mean = signals.reduce((sum, s) => sum + sigmoid(mid + s), 0) / signals.length;
    if (mean < rate) low = mid;
    else high = mid;
  }
  return (low + high) / 2;
}

export function syntheticFraud({ rows, features = 15, fraudRate = 0.01, signal, seed }: SyntheticFraudOptions): SyntheticFraudData {
  if (features < 4) throw new Error('the synthetic signals use four latent features');
  const rng = seededRng(`synthetic-fraud-${signal}-${seed}`);
  // Feature j is exposed as offset_j + scale_j * z_j, scales from 0.01 to 100.
  const scales = Array.from({ length: features }, (_, j) => 10 ** (-2 + (4 * j) / (features - 1)));
  const offsets = Array.from({ length: features }, (_, j) => (j % 3) * 50);
  const x = new Float32Array(rows * features);
  const signals = new Float64Array(rows);
  const z = new Float64Array(features);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; j < features; j++) {
      z[j] = standardNormal(rng);
      x[row * features + j] = offsets[j] + scales[j] * z[j];
    }
    signals[row] = signalOf(signal, z);
  }
  const intercept = interceptForRate(signals, fraudRate);
  const probability = signals.map((s) => sigmoid(intercept + s));
  const y = Uint8Array.from(probability, (p) => (rng() < p ? 1 : 0));
  return { featureNames: Array.from({ length: features }, (_, j) => `feature_${String(j).padStart(2, '0')}`), x, y, probability };
}
