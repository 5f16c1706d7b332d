/**
 * Per-feature standardisation, (x - mean) / scale, fitted on the training rows only so
 * that validation and serving see the training distribution's scale. Plain numbers, so
 * the parameters travel inside a model's JSON config.
 */

export interface StandardizerParams {
  mean: number[];
  /** The population standard deviation, or 1 where the feature is (numerically) constant. */
  scale: number[];
}

/**
 * Below this share of max(1, |mean|) a feature's spread is float32 rounding, not signal.
 * Such a feature gets scale 1 rather than a floored tiny std (as sklearn's StandardScaler
 * does): dividing by a floor would turn any serving-time change of a feature that was
 * constant in training into a huge input.
 */
const RELATIVE_STD_FLOOR = 1e-6;

/** Throws unless `x` is `rows` x `features` finite values, naming the first bad cell. */
export function checkFeatureMatrix(x: Float32Array, features: number, rows = x.length / features): void {
  if (!Number.isInteger(rows) || x.length !== rows * features) throw new Error(`${x.length} values are not ${features} features per row${Number.isInteger(rows) ? ` for ${rows} rows` : ''}`);
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) throw new Error(`feature ${i % features} of row ${Math.floor(i / features)} is ${x[i]}`);
  }
}

/** Mean and scale of each column of the row-major `x` ([rows, features]), in float64. */
export function fitStandardizer(x: Float32Array, features: number): StandardizerParams {
  checkFeatureMatrix(x, features);
  const rows = x.length / features;
  if (rows === 0) throw new Error('cannot fit a standardizer on no rows');
  const mean = new Float64Array(features);
  for (let i = 0; i < x.length; i++) mean[i % features] += x[i];
  for (let j = 0; j < features; j++) mean[j] /= rows;
  // Two passes: the variance of centred values does not cancel catastrophically.
  const variance = new Float64Array(features);
  for (let i = 0; i < x.length; i++) variance[i % features] += (x[i] - mean[i % features]) ** 2;
  const scale = Array.from(variance, (v, j) => {
    const std = Math.sqrt(v / rows);
    return std > RELATIVE_STD_FLOOR * Math.max(1, Math.abs(mean[j])) ? std : 1;
  });
  return { mean: Array.from(mean), scale };
}

/** The standardised copy of the row-major `x`; throws on a non-finite value. */
export function standardize(params: StandardizerParams, x: Float32Array): Float32Array {
  const features = params.mean.length;
  checkFeatureMatrix(x, features);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % features;
    out[i] = (x[i] - params.mean[j]) / params.scale[j];
  }
  return out;
}
