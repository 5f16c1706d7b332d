/** The kind's metrics on the test window, M4's definitions (ml/forecast/metrics.ts): OWA against Naive2 (primary), sMAPE, MASE, and the 80% interval's coverage and MSIS. */
import { evaluateForecaster, type ForecastEvaluation, type ForecastSeries, type Forecaster } from '../../../ml/forecast/forecaster';
import { tierBoundaries, tierOf } from '../../fairness';
import { SPLIT } from './protocol';
import { decomposeForecast, modelInput } from '../../../ml/forecast/decomposition';
import { evenSample, globalExplanation } from '../../../ml/explain';
import type { Evaluation, MetricSpec } from '../contract';
import type { PreparedSeries } from './prepare';

export const FORECAST_METRICS: MetricSpec[] = [
  { name: 'owa', label: 'OWA (vs Naive2)', direction: 'lower', format: 'ratio' },
  { name: 'smape', label: 'sMAPE (%)', direction: 'lower', format: 'number' },
  { name: 'mase', label: 'MASE', direction: 'lower', format: 'ratio' },
  { name: 'coverage80', label: '80% interval coverage', direction: 'higher', format: 'percent' },
  { name: 'msis', label: 'MSIS (80% interval)', direction: 'lower', format: 'number' },
];

/**
 * The test windows: each series with a value before its test window, forecast from
 * everything before it, outliers capped (`capped`) or as observed (M4's Naive2, the baseline).
 */
export function testWindows(series: readonly PreparedSeries[], history: 'capped' | 'original' = 'capped'): ForecastSeries[] {
  return series
    .map((s) => ({ s, testStart: s.split.indexOf(SPLIT.test) }))
    .filter(({ testStart }) => testStart > 0)
    .map(({ s, testStart }) => ({ history: s[history].subarray(0, testStart), originalHistory: s.original.subarray(0, testStart), actual: s.original.subarray(testStart) }));
}

export const FORECAST_SEGMENTS = [{ name: 'volume', label: 'series volume tier' }] as const;

const VOLUME_TIERS = ['low', 'medium', 'high'];

/**
 * Each test window's volume tier: its series' mean value before the test window, cut at the
 * terciles of those means over all series (history only, never the test window's values).
 */
export function volumeTiers(windows: readonly ForecastSeries[]): Record<string, number[]> {
  const volumes = windows.map((w) => Array.from(w.originalHistory).reduce((sum, v) => sum + v, 0) / Math.max(1, w.originalHistory.length));
  const boundaries = tierBoundaries(volumes, VOLUME_TIERS.length);
  const tiers: Record<string, number[]> = {};
  volumes.forEach((volume, i) => (tiers[tierOf(volume, boundaries, VOLUME_TIERS)] ??= []).push(i));
  return tiers;
}

const metricsOf = (model: ForecastEvaluation['model']) => ({ owa: model.owa, smape: model.smape, mase: model.mase, coverage80: model.coverage, msis: model.msis });

export function forecastEvaluation(forecaster: Forecaster, series: readonly PreparedSeries[], history: 'capped' | 'original' = 'capped'): Evaluation {
  const windows = testWindows(series, history);
  const { model, subsets } = evaluateForecaster(forecaster, windows, volumeTiers(windows));
  const segments = VOLUME_TIERS.filter((tier) => subsets[tier]).map((tier) => ({ segment: tier, cases: subsets[tier].series, metrics: metricsOf(subsets[tier].model) }));
  return { metrics: metricsOf(model), evaluated: windows.length, segments: [{ attribute: 'volume', label: FORECAST_SEGMENTS[0].label, segments }] };
}

/**
 * The global explanation: the decomposition serving returns, on an even sample of the test
 * windows, each part as its mean |share| of the week's p50 (so series of any scale weigh alike).
 */
export function explainForecasts(forecaster: Forecaster, windows: readonly ForecastSeries[], method: string): NonNullable<Evaluation['explanations']> {
  const sample = evenSample(windows.length).map((i) => windows[i]);
  const forecasts = forecaster.forecast(sample.map((w) => w.history), sample.map((w) => w.originalHistory));
  const cases = sample.map((w, i) => {
    const { p50 } = forecasts[i];
    const { level, trend, season } = decomposeForecast(modelInput(forecaster.config, w.history, w.originalHistory), p50, forecaster.config.seasonality);
    const share = (part: (k: number) => number) => {
      let total = 0;
      for (let k = 0; k < p50.length; k++) total += Math.abs(p50[k]) > 0 ? Math.abs(part(k) / p50[k]) : 0;
      return total / p50.length;
    };
    return [
      { input: 'recent level', attribution: share(() => level) },
      { input: 'trend', attribution: share((k) => trend[k]) },
      { input: 'seasonality', attribution: share((k) => season[k]) },
    ];
  });
  return globalExplanation(method, 'week\'s p50, as a share of it', cases);
}

/** Each series up to its test window (the models' values and the observed ones): what training and the baseline see. */
export function beforeTest(series: readonly PreparedSeries[], history: 'capped' | 'original' = 'capped'): { values: Float64Array[]; originals: Float64Array[] } {
  const cut = series.map((s) => ({ s, end: s.split.indexOf(SPLIT.test) })).filter(({ end }) => end > 0);
  return { values: cut.map(({ s, end }) => s[history].subarray(0, end)), originals: cut.map(({ s, end }) => s.original.subarray(0, end)) };
}
