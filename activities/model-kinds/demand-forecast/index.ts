/**
 * The demand-forecast kind: weekly sales per item and category (or M4-layout series files),
 * forecast 13 weeks ahead with p10/p50/p90. Candidates are the M4 statistical benchmarks,
 * a global MLP trained across all series, and fixed combinations; the one with the best
 * validation OWA is the model. Judged by M4's OWA against Naive2 on the last 13 weeks,
 * served at /forecast.
 */
import { ForecastHyperparameters } from '../../../ml/forecast/global-mlp';
import { Forecaster, naive2Forecaster, trainForecaster, type ForecasterConfig } from '../../../ml/forecast/forecaster';
import { artifactOf } from '../../kind-runtime';
import { salesSource, seriesSource } from './sources';
import { prepareForecastData, seriesFromTable, type PreparedSeries } from './prepare';
import { ForecastOptions } from './protocol';
import { beforeTest, explainForecasts, FORECAST_METRICS, forecastEvaluation, FORECAST_SEGMENTS, testWindows } from './evaluation';
import { forecastFeedback } from './feedback';
import { batchForecast, forecastServing, type LoadedForecaster } from './serving';
import { syntheticSalesFiles } from './synthetic';
import type { KindRuntime, ModelKind } from '../contract';
import type { PreprocessResult } from '../../../schemas/steps';

const optionsOf = (rt: KindRuntime) => ForecastOptions.parse(rt.ctx.config.options);

async function seriesOf(rt: KindRuntime, prepared: PreprocessResult): Promise<PreparedSeries[]> {
  return seriesFromTable(await rt.readTable(artifactOf(prepared, 'series')), optionsOf(rt));
}

export const demandForecastKind: ModelKind<ForecastHyperparameters, LoadedForecaster> = {
  name: 'demand-forecast',
  description: 'weekly demand forecasting with p10/p50/p90 (M4 benchmarks, a global MLP and their combinations; OWA vs Naive2)',
  sources: [salesSource, seriesSource],
  hyperparameters: {
    schema: ForecastHyperparameters,
    searchSpace: { learningRate: { min: 0.0003, max: 0.003, scale: 'log' }, lookbackHorizons: { choices: [2, 3, 4, 6] } },
  },
  options: ForecastOptions,
  metrics: {
    specs: FORECAST_METRICS,
    primary: 'owa',
    validation: { name: 'owa', label: 'validation OWA', direction: 'lower', format: 'ratio' },
  },
  segments: FORECAST_SEGMENTS,
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff, options: ForecastOptions.parse(ctx.config.options) }),
  preprocess: (rt, snapshot) => prepareForecastData(rt, snapshot, optionsOf(rt)),

  async train(rt, prepared, hp) {
    const options = optionsOf(rt);
    const { values, originals } = beforeTest(await seriesOf(rt, prepared));
    rt.log.info({ series: values.length, horizon: options.horizon }, 'training demand forecaster');
    const result = await trainForecaster({ ...rt.hooks, hyperparameters: hp, ...options, values, originals, log: (message, fields) => rt.log.info(fields, message) } as Parameters<typeof trainForecaster>[0]);
    return { ...result, weights: result.mlp.namedWeights(), config: { ...result.config }, notes: { method: result.config.method }, dispose: () => result.mlp.dispose() };
  },

  async evaluate(rt, prepared, target) {
    const options = optionsOf(rt);
    const config = target.bundle.config as unknown as ForecasterConfig;
    if (config.horizon < options.horizon) throw new Error(`the model forecasts ${config.horizon} weeks; this run tests ${options.horizon}`);
    const forecaster = Forecaster.fromWeights(config, target.bundle.tensors);
    for (const tensor of Object.values(target.bundle.tensors)) tensor.dispose();
    try {
      const series = await seriesOf(rt, prepared);
      return { ...forecastEvaluation(forecaster, series), explanations: explainForecasts(forecaster, testWindows(series), forecastServing.explanation.method) };
    } finally {
      forecaster.dispose();
    }
  },

  baseline: {
    label: 'Naive2',
    async evaluate(rt, prepared) {
      // M4's Naive2, on the series as observed (no outlier capping): the reference OWA is defined by.
      const series = await seriesOf(rt, prepared);
      const { values, originals } = beforeTest(series, 'original');
      return forecastEvaluation(naive2Forecaster(values, originals, optionsOf(rt)), series, 'original');
    },
  },

  // Serving reads only the batch forecast deploy publishes (and the model, for unseen histories).
  servingArtifacts: [],
  precompute: (rt, _prepared, model) => batchForecast(rt, model),
  serving: forecastServing,
  feedback: forecastFeedback,
  synthetic: () => syntheticSalesFiles(),
};
