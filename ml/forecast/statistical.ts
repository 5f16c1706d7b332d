/**
 * The M4 competition's statistical benchmarks, as its published code defines them
 * (M4-methods, "Benchmarks and Evaluation.R", on R's forecast package):
 *
 *   naive           the last value
 *   seasonal naive  the last season repeated (naive when the seasonality is 1)
 *   Naive2          naive on the seasonally adjusted series, reseasonalised
 *   SES, Holt, damped  forecast::ses / holt / holt(damped = TRUE): ETS(A,N,N), (A,A,N), (A,Ad,N)
 *                   fitted by minimising the in-sample MSE over the smoothing weights and the initial states
 *   Theta           the classic Theta method: the mean of the linear trend line and SES on the theta = 2 line
 *   Comb            the mean of SES, Holt and damped
 *
 * Seasonal adjustment, for seasonality m > 1 only: a 90% autocorrelation test at lag m on
 * series of at least 3m values and, when seasonal, classical multiplicative decomposition.
 * Weekly M4 data are taken with m = 1, so there Naive2 is naive.
 *
 * Forecasts of a series that never went below zero are floored at zero (M4's code does so
 * for Theta only; sales cannot be negative).
 */

import { nelderMead } from './nelder-mead';

export const STATISTICAL_METHODS = ['naive', 'seasonalNaive', 'naive2', 'ses', 'holt', 'damped', 'theta', 'comb'] as const;
export type StatisticalMethod = (typeof STATISTICAL_METHODS)[number];

/** The bounds forecast::ets uses ("usual"): smoothing weights in [1e-4, 0.9999], beta below alpha, phi in [0.8, 0.98]. */
const WEIGHT_LOWER = 1e-4;
const WEIGHT_UPPER = 0.9999;
const PHI_LOWER = 0.8;
const PHI_UPPER = 0.98;

type Trend = 'none' | 'additive' | 'damped';

interface EtsFit {
  alpha: number;
  beta: number;
  phi: number;
  level: number;
  trend: number;
  mse: number;
}

const mean = (values: ArrayLike<number>, from = 0, to = values.length) => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i];
  return sum / (to - from);
};

/** In-sample one-step MSE of ETS(A,trend,N) from the initial states, and the final states. */
function etsPass(y: ArrayLike<number>, trendType: Trend, alpha: number, beta: number, phi: number, level0: number, trend0: number): { mse: number; level: number; trend: number } {
  let level = level0;
  let trend = trendType === 'none' ? 0 : trend0;
  const damping = trendType === 'damped' ? phi : 1;
  let sse = 0;
  for (let t = 0; t < y.length; t++) {
    const forecast = level + damping * trend;
    const error = y[t] - forecast;
    sse += error * error;
    level = forecast + alpha * error;
    if (trendType !== 'none') trend = damping * trend + beta * error;
  }
  return { mse: sse / y.length, level, trend };
}

/** forecast::ets's starting states: the mean of the first ten values, or a line fitted through them. */
function initialStates(y: ArrayLike<number>, trendType: Trend): { level: number; trend: number } {
  const n = Math.min(10, y.length);
  if (trendType === 'none') return { level: mean(y, 0, n), trend: 0 };
  if (n < 2) return { level: y[0], trend: 0 };
  // Least squares of y on t = 1..n; the level is the intercept (t = 0).
  const tMean = (n + 1) / 2;
  const yMean = mean(y, 0, n);
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i + 1 - tMean) * (y[i] - yMean);
    sxx += (i + 1 - tMean) ** 2;
  }
  const slope = sxy / sxx;
  return { level: yMean - slope * tMean, trend: slope };
}

/** Fits ETS(A,N,N), (A,A,N) or (A,Ad,N) by minimising the in-sample MSE, as ets(opt.crit = "mse") does. */
export function fitEts(y: ArrayLike<number>, trendType: Trend): EtsFit {
  const init = initialStates(y, trendType);
  const alpha0 = WEIGHT_LOWER + 0.2 * (WEIGHT_UPPER - WEIGHT_LOWER);
  const beta0 = WEIGHT_LOWER + 0.1 * (alpha0 - WEIGHT_LOWER);
  const phi0 = PHI_LOWER + 0.99 * (PHI_UPPER - PHI_LOWER);
  const spread = Math.max(Math.abs(init.level) * 0.1, mean(Array.from(y, Math.abs)) * 0.1, 1e-3);
  const hasTrend = trendType !== 'none';
  const damped = trendType === 'damped';
  // Parameter vector: alpha, [beta], [phi], level0, [trend0].
  const unpack = (p: number[]) => {
    let i = 0;
    const alpha = p[i++];
    const beta = hasTrend ? p[i++] : 0;
    const phi = damped ? p[i++] : 1;
    const level = p[i++];
    const trend = hasTrend ? p[i++] : 0;
    return { alpha, beta, phi, level, trend };
  };
  const admissible = ({ alpha, beta, phi }: ReturnType<typeof unpack>) =>
    alpha >= WEIGHT_LOWER && alpha <= WEIGHT_UPPER && (!hasTrend || (beta >= WEIGHT_LOWER && beta <= alpha)) && (!damped || (phi >= PHI_LOWER && phi <= PHI_UPPER));
  const start = [alpha0, ...(hasTrend ? [beta0] : []), ...(damped ? [phi0] : []), init.level, ...(hasTrend ? [init.trend] : [])];
  const steps = [0.1, ...(hasTrend ? [0.01] : []), ...(damped ? [0.01] : []), spread, ...(hasTrend ? [Math.max(Math.abs(init.trend) * 0.1, spread * 0.01)] : [])];
  const objective = (p: number[]) => {
    const params = unpack(p);
    return admissible(params) ? etsPass(y, trendType, params.alpha, params.beta, params.phi, params.level, params.trend).mse : Number.POSITIVE_INFINITY;
  };
  const { x } = nelderMead(objective, start, { steps, maxEvaluations: 2000 });
  const params = unpack(x);
  const final = etsPass(y, trendType, params.alpha, params.beta, params.phi, params.level, params.trend);
  return { alpha: params.alpha, beta: params.beta, phi: params.phi, level: final.level, trend: final.trend, mse: final.mse };
}

function etsForecast(fit: EtsFit, trendType: Trend, horizon: number): Float64Array {
  const out = new Float64Array(horizon);
  let damping = 0;
  for (let k = 1; k <= horizon; k++) {
    damping += trendType === 'damped' ? fit.phi ** k : trendType === 'additive' ? 1 : 0;
    out[k - 1] = fit.level + damping * fit.trend;
  }
  return out;
}

export const ses = (y: ArrayLike<number>, horizon: number) => etsForecast(fitEts(y, 'none'), 'none', horizon);
export const holt = (y: ArrayLike<number>, horizon: number) => etsForecast(fitEts(y, 'additive'), 'additive', horizon);
export const damped = (y: ArrayLike<number>, horizon: number) => etsForecast(fitEts(y, 'damped'), 'damped', horizon);
export const naive = (y: ArrayLike<number>, horizon: number) => new Float64Array(horizon).fill(y[y.length - 1]);

export function seasonalNaive(y: ArrayLike<number>, horizon: number, seasonality: number): Float64Array {
  if (seasonality <= 1 || y.length < seasonality) return naive(y, horizon);
  return Float64Array.from({ length: horizon }, (_, k) => y[y.length - seasonality + (k % seasonality)]);
}

/** Classic Theta (M4's Theta.classic): weights 0.5 on the OLS trend line and on SES of 2y - line. */
export function theta(y: ArrayLike<number>, horizon: number): Float64Array {
  const n = y.length;
  const tMean = (n + 1) / 2;
  const yMean = mean(y);
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i + 1 - tMean) * (y[i] - yMean);
    sxx += (i + 1 - tMean) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const intercept = yMean - slope * tMean;
  const thetaLine = Float64Array.from({ length: n }, (_, i) => 2 * y[i] - (intercept + slope * (i + 1)));
  const smoothed = ses(thetaLine, horizon);
  return Float64Array.from({ length: horizon }, (_, k) => Math.max(0, 0.5 * smoothed[k] + 0.5 * (intercept + slope * (n + k + 1))));
}

/** R's acf: autocorrelations at lags 1..maxLag, mean removed, denominators n. */
export function autocorrelations(y: ArrayLike<number>, maxLag: number): number[] {
  const m = mean(y);
  let c0 = 0;
  for (let t = 0; t < y.length; t++) c0 += (y[t] - m) ** 2;
  return Array.from({ length: maxLag }, (_, index) => {
    const lag = index + 1;
    let c = 0;
    for (let t = 0; t + lag < y.length; t++) c += (y[t] - m) * (y[t + lag] - m);
    return c0 === 0 ? 0 : c / c0;
  });
}

/** M4's SeasonalityTest: |acf(m)| above 1.645 / sqrt(n) * sqrt(1 + 2 * sum_{k<m} acf(k)^2), for n >= 3m. */
export function isSeasonal(y: ArrayLike<number>, seasonality: number): boolean {
  if (seasonality <= 1 || y.length < 3 * seasonality) return false;
  const acf = autocorrelations(y, seasonality);
  let squares = 1;
  for (let k = 0; k < seasonality - 1; k++) squares += 2 * acf[k] ** 2;
  return Math.abs(acf[seasonality - 1]) > (1.645 / Math.sqrt(y.length)) * Math.sqrt(squares);
}

/** The seasonal indices of R's decompose(type = "multiplicative"), by position t mod m (the series starts a cycle). */
export function multiplicativeSeasonalIndices(y: ArrayLike<number>, seasonality: number): Float64Array {
  const m = seasonality;
  const n = y.length;
  // Centred moving average: m terms for odd m, a 2 x m average for even m.
  const weights = m % 2 === 1 ? new Array<number>(m).fill(1 / m) : [0.5 / m, ...new Array<number>(m - 1).fill(1 / m), 0.5 / m];
  const half = Math.floor(weights.length / 2);
  const sums = new Float64Array(m);
  const counts = new Float64Array(m);
  for (let t = half; t < n - half; t++) {
    let trend = 0;
    for (let j = 0; j < weights.length; j++) trend += weights[j] * y[t - half + j];
    sums[t % m] += y[t] / trend;
    counts[t % m]++;
  }
  const figure = Float64Array.from(sums, (s, i) => s / counts[i]);
  const figureMean = mean(figure);
  return figure.map((f) => f / figureMean);
}

/** The seasonally adjusted series and the seasonal factors of the next `horizon` steps (all ones when not seasonal). */
export function seasonalAdjustment(y: ArrayLike<number>, horizon: number, seasonality: number): { adjusted: Float64Array; outFactors: Float64Array } {
  if (!isSeasonal(y, seasonality)) return { adjusted: Float64Array.from(y), outFactors: new Float64Array(horizon).fill(1) };
  const indices = multiplicativeSeasonalIndices(y, seasonality);
  return {
    adjusted: Float64Array.from(y, (v, t) => v / indices[t % seasonality]),
    outFactors: Float64Array.from({ length: horizon }, (_, k) => indices[(y.length + k) % seasonality]),
  };
}

/** Every method's forecast of one series; the seasonal adjustment is computed once for those that use it. */
export function statisticalForecasts(y: ArrayLike<number>, horizon: number, seasonality: number, methods: readonly StatisticalMethod[] = STATISTICAL_METHODS): Partial<Record<StatisticalMethod, Float64Array>> {
  if (y.length === 0) throw new Error('a forecast needs at least one observation');
  const { adjusted, outFactors } = seasonalAdjustment(y, horizon, seasonality);
  const reseasonalised = (f: Float64Array) => f.map((v, k) => v * outFactors[k]);
  const out: Partial<Record<StatisticalMethod, Float64Array>> = {};
  const cached = new Map<StatisticalMethod, Float64Array>();
  const get = (method: StatisticalMethod): Float64Array => {
    const hit = cached.get(method);
    if (hit) return hit;
    let f: Float64Array;
    if (method === 'naive') f = naive(y, horizon);
    else if (method === 'seasonalNaive') f = seasonalNaive(y, horizon, seasonality);
    else if (method === 'naive2') f = reseasonalised(naive(adjusted, horizon));
    else if (method === 'ses') f = reseasonalised(ses(adjusted, horizon));
    else if (method === 'holt') f = reseasonalised(holt(adjusted, horizon));
    else if (method === 'damped') f = reseasonalised(damped(adjusted, horizon));
    else if (method === 'theta') f = reseasonalised(theta(adjusted, horizon));
    else f = Float64Array.from({ length: horizon }, (_, k) => (get('ses')[k] + get('holt')[k] + get('damped')[k]) / 3);
    cached.set(method, f);
    return f;
  };
  let nonNegative = true;
  for (let t = 0; t < y.length; t++) if (y[t] < 0) nonNegative = false;
  for (const method of methods) out[method] = nonNegative ? get(method).map((v) => Math.max(0, v)) : get(method);
  return out;
}
