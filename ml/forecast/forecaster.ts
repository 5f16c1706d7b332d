/**
 * The demand-forecast model as a whole: candidate forecasters (the M4 statistical methods,
 * the global MLP, and fixed combinations of them), the one chosen by its OWA on the
 * validation window (the `horizon` values before the test window; the test window is never
 * seen here), and 80% intervals from the chosen forecaster's validation errors.
 *
 * Intervals are residual-based: for each step k of the horizon, the 10% and 90% quantiles
 * over all series of the validation error (actual - forecast) divided by the series' MASE
 * scale; a forecast's p10 and p90 are its point forecast plus those quantiles times its own
 * series' scale. Series with fewer than `minHistory` values before the window to forecast
 * get the fallback (the mean of their last `horizon` values), counted apart.
 */
import { AccuracyAccumulator, maseScale, owa, type Accuracy } from './metrics';
import { statisticalForecasts, type StatisticalMethod } from './statistical';
import { GlobalMlpEnsemble, trainGlobalMlp, type ForecastHyperparameters, type GlobalMlpConfig, type GlobalMlpTrainingState } from './global-mlp';
import type { TrainingHooks, TrainingOutcome } from '../training-hooks';
import type * as tf from '@tensorflow/tfjs';

/** The statistical methods the candidates draw on; `naive2` is also the baseline. */
const COMPONENT_METHODS: StatisticalMethod[] = ['naive2', 'ses', 'holt', 'damped', 'theta', 'comb'];
/** Fixed combinations (not searched, so nothing is fitted to one dataset's validation noise beyond the pick). */
export const COMBINATIONS: Record<string, { combine: 'median' | 'mean'; of: string[] }> = {
  'median(ses,holt,damped,theta)': { combine: 'median', of: ['ses', 'holt', 'damped', 'theta'] },
  'median(ses,holt,damped,theta,global)': { combine: 'median', of: ['ses', 'holt', 'damped', 'theta', 'global'] },
  'mean(ses,holt,damped,theta,global)': { combine: 'mean', of: ['ses', 'holt', 'damped', 'theta', 'global'] },
  'mean(damped,theta,global)': { combine: 'mean', of: ['damped', 'theta', 'global'] },
};
export const CANDIDATES = [...COMPONENT_METHODS, 'global', ...Object.keys(COMBINATIONS)];

export const QUANTILES = [0.1, 0.5, 0.9] as const;

export interface ForecasterConfig {
  horizon: number;
  seasonality: number;
  minHistory: number;
  /** The chosen candidate, and whether it forecasts from histories with outliers capped or as observed. */
  method: string;
  input: ModelInput;
  /** Per horizon step: the 10% and 90% quantiles of the scaled validation errors. */
  lowerOffsets: number[];
  upperOffsets: number[];
  /** The global model's architecture; null for a forecaster that does not use it. */
  mlp: GlobalMlpConfig | null;
  /** Networks in the global model's ensemble. */
  members: number;
  /** Every candidate's validation sMAPE, MASE and OWA, for the report. */
  validation: Record<string, { smape: number; mase: number; owa: number }>;
}

export interface QuantileForecast {
  p10: Float64Array;
  p50: Float64Array;
  p90: Float64Array;
  /** The chosen method, or `fallback` for a series too short for it. */
  method: string;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function quantile(sorted: ArrayLike<number>, q: number): number {
  // R's default (type 7): linear interpolation between order statistics.
  const position = (sorted.length - 1) * q;
  const lo = Math.floor(position);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (position - lo) * (sorted[hi] - sorted[lo]);
}

/** The scale intervals are drawn in: MASE's, or the mean |value| of a flat history, or 1 for an all-zero one. */
export function intervalScale(history: ArrayLike<number>, seasonality: number): number {
  const scale = maseScale(history, seasonality);
  if (Number.isFinite(scale) && scale > 0) return scale;
  let sum = 0;
  for (let t = 0; t < history.length; t++) sum += Math.abs(history[t]);
  return sum > 0 ? sum / history.length : 1;
}

export function fallbackForecast(history: ArrayLike<number>, horizon: number): Float64Array {
  const from = Math.max(0, history.length - horizon);
  let sum = 0;
  for (let t = from; t < history.length; t++) sum += history[t];
  return new Float64Array(horizon).fill(history.length > 0 ? sum / (history.length - from) : 0);
}

/** Every candidate's point forecasts of each history (all histories long enough for the methods). */
export function candidateForecasts(histories: readonly ArrayLike<number>[], horizon: number, seasonality: number, mlp: GlobalMlpEnsemble | null, candidates: readonly string[] = CANDIDATES): Map<string, Float64Array[]> {
  const needed = new Set<string>();
  const add = (name: string) => (COMBINATIONS[name] ? COMBINATIONS[name].of.forEach(add) : needed.add(name));
  candidates.forEach(add);
  const statistical = COMPONENT_METHODS.filter((m) => needed.has(m));
  const byMethod = new Map<string, Float64Array[]>(statistical.map((m) => [m, []]));
  for (const history of histories) {
    const f = statisticalForecasts(history, horizon, seasonality, statistical);
    for (const m of statistical) byMethod.get(m)!.push(f[m]!);
  }
  if (needed.has('global')) {
    if (!mlp) throw new Error('the global model is needed but not trained');
    const nonNegative = histories.map((h) => Array.prototype.every.call(h, (v: number) => v >= 0));
    byMethod.set('global', mlp.forecast(histories, histories.map((h) => h.length)).map((f, i) => (nonNegative[i] ? f.map((v) => Math.max(0, v)) : f)));
  }
  const out = new Map<string, Float64Array[]>();
  for (const name of candidates) {
    const combination = COMBINATIONS[name];
    if (!combination) {
      out.set(name, byMethod.get(name)!);
      continue;
    }
    const parts = combination.of.map((m) => byMethod.get(m)!);
    out.set(
      name,
      histories.map((_, i) => Float64Array.from({ length: horizon }, (_, k) => {
        const values = parts.map((p) => p[i][k]);
        return combination.combine === 'median' ? median(values) : values.reduce((a, b) => a + b, 0) / values.length;
      })),
    );
  }
  return out;
}

export interface ForecastSeries {
  /** What the models see (outliers capped), up to the window to forecast. */
  history: ArrayLike<number>;
  /** The same values as observed, for the MASE scale. */
  originalHistory: ArrayLike<number>;
  /** The window's actual values, as observed. */
  actual: ArrayLike<number>;
}

function accuracyOf(series: readonly ForecastSeries[], points: Float64Array[], seasonality: number, intervals?: { lower: Float64Array[]; upper: Float64Array[] }): Accuracy {
  const accumulator = new AccuracyAccumulator(seasonality);
  series.forEach((s, i) => accumulator.add({ insample: s.originalHistory, actual: s.actual, point: points[i], lower: intervals?.lower[i], upper: intervals?.upper[i] }));
  return accumulator.result();
}

export interface ForecasterTrainOptions extends TrainingHooks<GlobalMlpTrainingState> {
  hyperparameters: ForecastHyperparameters;
  horizon: number;
  seasonality: number;
  minHistory: number;
  /**
   * Each series up to the test window (the last `horizon` values are the validation
   * window): capped values for the models, observed ones for scoring.
   */
  values: readonly ArrayLike<number>[];
  originals: readonly ArrayLike<number>[];
  log?: (message: string, fields: Record<string, unknown>) => void;
}

export interface ForecasterTrainResult extends TrainingOutcome {
  config: ForecasterConfig;
  mlp: GlobalMlpEnsemble;
}

export interface WindowOptions {
  horizon: number;
  seasonality: number;
  minHistory: number;
}

/** The validation windows: the last `horizon` values of each series long enough, forecast from those before them. */
export function validationWindows(values: readonly ArrayLike<number>[], originals: readonly ArrayLike<number>[], { horizon, minHistory }: WindowOptions): { scored: number[]; windows: ForecastSeries[] } {
  const scored = values.map((_, i) => i).filter((i) => values[i].length - horizon >= minHistory);
  if (scored.length === 0) throw new Error(`no series has ${minHistory} values before its validation window (${horizon} values) and test window`);
  const windows = scored.map((i) => ({
    history: Array.prototype.slice.call(values[i], 0, values[i].length - horizon) as number[],
    originalHistory: Array.prototype.slice.call(originals[i], 0, originals[i].length - horizon) as number[],
    actual: Array.prototype.slice.call(originals[i], originals[i].length - horizon) as number[],
  }));
  return { scored, windows };
}

/** Per step, the 10% and 90% quantiles over the windows of (actual - forecast) / the series' scale. */
export function intervalOffsets(windows: readonly ForecastSeries[], points: readonly Float64Array[], seasonality: number, horizon: number): { lowerOffsets: number[]; upperOffsets: number[] } {
  const lowerOffsets: number[] = [];
  const upperOffsets: number[] = [];
  for (let k = 0; k < horizon; k++) {
    const errors = Float64Array.from(windows, (s, i) => (s.actual[k] - points[i][k]) / intervalScale(s.originalHistory, seasonality)).sort();
    lowerOffsets.push(Math.min(0, quantile(errors, QUANTILES[0])));
    upperOffsets.push(Math.max(0, quantile(errors, QUANTILES[2])));
  }
  return { lowerOffsets, upperOffsets };
}

export type ModelInput = 'capped' | 'original';

/**
 * Trains the global model and scores every candidate on the validation window, for the
 * histories with outliers capped and as observed (when capping changed anything); keeps the
 * best candidate and input, and calibrates its intervals. Whether capping helps is a
 * property of the data (a spike in store sales, a level shift in M4's), so it is chosen on
 * validation like the method.
 */
export async function trainForecaster(options: ForecasterTrainOptions): Promise<ForecasterTrainResult> {
  const { horizon, seasonality, minHistory, values, originals, resumeFrom, hyperparameters: hp } = options;
  const started = Date.now();
  const capping = values.some((v, i) => Array.prototype.some.call(v, (x: number, t: number) => x !== originals[i][t]));
  const inputs: ModelInput[] = capping ? ['capped', 'original'] : ['capped'];
  const setup = (input: ModelInput) => {
    const series = input === 'capped' ? values : originals;
    const { scored, windows: validation } = validationWindows(series, originals, options);
    const histories = validation.map((s) => s.history);
    const naive2 = accuracyOf(validation, candidateForecasts(histories, horizon, seasonality, null, ['naive2']).get('naive2')!, seasonality);
    return { series: scored.map((i) => series[i]), scored, validation, histories, naive2 };
  };
  const trainMember = (input: ModelInput, member: number, data: ReturnType<typeof setup>) => {
    const tag = `${input}/${member}`;
    return trainGlobalMlp({
      ...options,
      hyperparameters: { ...hp, seed: hp.seed + member },
      tag,
      // A checkpoint belongs to one network's training; the others are trained afresh (deterministically).
      resumeFrom: resumeFrom && JSON.parse(resumeFrom.state.run).tag === tag ? resumeFrom : undefined,
      series: data.series,
      trainEnds: data.series.map((s) => s.length - horizon),
      validationScore: (model) => owa(accuracyOf(data.validation, model.forecast(data.histories, data.histories.map((h) => h.length)), seasonality), data.naive2),
    });
  };
  const score = (data: ReturnType<typeof setup>, ensemble: GlobalMlpEnsemble) => {
    const all = candidateForecasts(data.histories, horizon, seasonality, ensemble);
    const scores: ForecasterConfig['validation'] = {};
    for (const [name, points] of all) {
      const accuracy = accuracyOf(data.validation, points, seasonality);
      scores[name] = { smape: accuracy.smape, mase: accuracy.mase, owa: owa(accuracy, data.naive2) };
    }
    const method = Object.keys(scores).reduce((a, b) => (scores[b].owa < scores[a].owa ? b : a));
    return { all, scores, method };
  };
  // The input is chosen with one network each; the chosen input's ensemble is then completed and the method chosen again.
  let best: { input: ModelInput; owa: number; first: Awaited<ReturnType<typeof trainGlobalMlp>>; data: ReturnType<typeof setup> } | undefined;
  for (const input of inputs) {
    const data = setup(input);
    const first = await trainMember(input, 0, data);
    const { scores, method } = score(data, new GlobalMlpEnsemble([first.model]));
    options.log?.('validation scores with one network', { input, method, owa: scores[method].owa, series: data.scored.length, short: values.length - data.scored.length });
    if (!best || scores[method].owa < best.owa) {
      best?.first.model.dispose();
      best = { input, owa: scores[method].owa, first, data };
    } else {
      first.model.dispose();
    }
  }
  const { input, first, data } = best!;
  const members = [first.model];
  for (let member = 1; member < hp.ensemble; member++) members.push((await trainMember(input, member, data)).model);
  const ensemble = new GlobalMlpEnsemble(members);
  const { all, scores, method } = score(data, ensemble);
  options.log?.('forecaster chosen on validation', { input, method, owa: scores[method].owa, members: members.length });
  const config: ForecasterConfig = { horizon, seasonality, minHistory, method, input, ...intervalOffsets(data.validation, all.get(method)!, seasonality, horizon), mlp: first.model.config, members: members.length, validation: scores };
  // Training time covers every network and the candidates' validation fits; the epoch history is the first network's.
  return { ...first, trainSeconds: (Date.now() - started) / 1000, config, mlp: ensemble };
}

/** The baseline as a forecaster: Naive2 with intervals calibrated the same way on the validation window. */
export function naive2Forecaster(values: readonly ArrayLike<number>[], originals: readonly ArrayLike<number>[], options: WindowOptions): Forecaster {
  const { windows } = validationWindows(values, originals, options);
  const points = candidateForecasts(windows.map((w) => w.history), options.horizon, options.seasonality, null, ['naive2']).get('naive2')!;
  return new Forecaster({ ...options, method: 'naive2', input: 'capped', ...intervalOffsets(windows, points, options.seasonality, options.horizon), validation: {}, mlp: null, members: 0 }, null);
}

/** A trained forecaster: its config and global model. */
export class Forecaster {
  constructor(
    readonly config: ForecasterConfig,
    readonly mlp: GlobalMlpEnsemble | null,
  ) {}

  static fromWeights(config: ForecasterConfig, tensors: Record<string, tf.Tensor>): Forecaster {
    return new Forecaster(config, config.mlp ? GlobalMlpEnsemble.fromWeights(config.mlp, config.members, tensors) : null);
  }

  /** p10/p50/p90 for the `horizon` steps after each history: `capped` values and the `originals` (the interval scale; the input of a model that chose them). */
  forecast(capped: readonly ArrayLike<number>[], originals: readonly ArrayLike<number>[] = capped, horizon = this.config.horizon): QuantileForecast[] {
    const { minHistory, seasonality, method } = this.config;
    const histories = this.config.input === 'original' ? originals : capped;
    if (horizon > this.config.horizon) throw new Error(`the model forecasts at most ${this.config.horizon} steps, not ${horizon}`);
    const long = histories.map((_, i) => i).filter((i) => histories[i].length >= minHistory);
    const points = candidateForecasts(long.map((i) => histories[i]), this.config.horizon, seasonality, this.mlp, [method]).get(method)!;
    const pointOf = new Map(long.map((i, j) => [i, points[j]]));
    return histories.map((history, i) => {
      const point = pointOf.get(i) ?? fallbackForecast(history, this.config.horizon);
      const scale = intervalScale(originals[i], seasonality);
      const floor = Array.prototype.every.call(originals[i], (v: number) => v >= 0) ? 0 : Number.NEGATIVE_INFINITY;
      const p50 = point.slice(0, horizon);
      return {
        p10: p50.map((v, k) => Math.max(floor, v + this.config.lowerOffsets[k] * scale)),
        p50,
        p90: p50.map((v, k) => Math.max(floor, v + this.config.upperOffsets[k] * scale)),
        method: pointOf.has(i) ? method : 'fallback',
      };
    });
  }

  dispose(): void {
    this.mlp?.dispose();
  }
}

export interface ForecastEvaluation {
  model: Accuracy & { owa: number };
  naive2: Accuracy;
  /** Series scored with the model's method, and those too short, scored with the fallback. */
  series: number;
  fallbackSeries: number;
}

/** Scores the forecaster on windows (the test window in the pipeline), against Naive2 on the same series and steps. */
export function evaluateForecaster(forecaster: Forecaster, windows: readonly ForecastSeries[], subsets: Record<string, number[]> = {}): ForecastEvaluation & { subsets: Record<string, ForecastEvaluation> } {
  const forecasts = forecaster.forecast(windows.map((w) => w.history), windows.map((w) => w.originalHistory));
  const scored = (rows: readonly number[]) => scoreForecasts(forecaster.config, rows.map((i) => windows[i]), rows.map((i) => forecasts[i]));
  return { ...scored(windows.map((_, i) => i)), subsets: Object.fromEntries(Object.entries(subsets).map(([name, rows]) => [name, scored(rows)])) };
}

/** Accuracy and OWA of given forecasts of some windows (a subset scores against Naive2 on the same windows). */
function scoreForecasts({ horizon, seasonality }: { horizon: number; seasonality: number }, windows: readonly ForecastSeries[], forecasts: readonly QuantileForecast[]): ForecastEvaluation {
  const model = accuracyOf(windows, forecasts.map((f) => f.p50), seasonality, { lower: forecasts.map((f) => f.p10), upper: forecasts.map((f) => f.p90) });
  const naive2 = naive2Accuracy(windows, horizon, seasonality);
  return { model: { ...model, owa: owa(model, naive2) }, naive2, series: windows.length, fallbackSeries: forecasts.filter((f) => f.method === 'fallback').length };
}

/** The baseline: Naive2 on the observed history (the reference OWA is defined by). */
export function naive2Accuracy(windows: readonly ForecastSeries[], horizon: number, seasonality: number): Accuracy {
  return accuracyOf(windows, windows.map((w) => statisticalForecasts(w.originalHistory, horizon, seasonality, ['naive2']).naive2!), seasonality);
}
