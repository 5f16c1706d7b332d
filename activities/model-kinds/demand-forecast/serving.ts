/**
 * The demand-forecast kind's serving handler. Deploy publishes the batch forecast with the
 * version (`forecasts`: every series, every week of the horizon, p10/p50/p90; computed by
 * `batchForecast` from the version's model and data); loading reads it, so GET answers
 * from memory, and POST forecasts an unseen history with the model.
 *
 *   GET  /forecast?series=<id>&horizon=13   the batch forecast of a known series: p10/p50/p90 per week
 *   POST /forecast   {history: [..weekly values, oldest first], horizon?, series_id?}: an unseen series, forecast on the fly
 *   ?explain=true on either adds explanation: {level, trend[], season[]} per forecast week,
 *                    adding up to p50 (ml/forecast/decomposition.ts); GET's was computed with
 *                    the batch forecast at deploy, POST's is computed on request
 *   POST /feedback   {series_id, week_start: YYYY-MM-DD (or week: the series' week index), quantity}, or an array of up to 500
 *
 * An unknown series is a 404, a horizon over the trained one or a history shorter than the
 * model's minimum a 400; each names the field.
 */
import { Bool, Field, Float64, Int32, Schema, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { oneOrMany } from '../../../schemas/serving';
import { Forecaster, type ForecasterConfig, type QuantileForecast } from '../../../ml/forecast/forecaster';
import { readTable, tableFromColumns } from '../../storage/arrow-io';
import { maseScale } from '../../../ml/forecast/metrics';
import { MAX_OBSERVATIONS, MAX_QUANTITY } from './rows';
import { seriesFromTable } from './prepare';
import { decomposeForecast, modelInput, type ForecastDecomposition } from '../../../ml/forecast/decomposition';
import { ForecastOptions, isoWeekStart, weekOf } from './protocol';
import { SCORING_ROUTE, type KindRuntime, type ModelUnderTest, type ServingHandler } from '../contract';
import type { ArtifactRef } from '../../../schemas/artifacts';

export const MAX_ACTUALS_PER_REQUEST = 500;

class ForecastRequestError extends Error {
  constructor(
    readonly statusCode: 400 | 404,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

interface ServedSeries {
  /** Week index of the first forecast week (dated series: weeks since the epoch; series files: position). */
  nextWeek: number;
  dated: boolean;
  /** MASE's scale of the series' history (null when it has no change), logged for online MASE. */
  scale: number | null;
  forecast: QuantileForecast;
  /** Null for a batch forecast published before decompositions were. */
  decomposition: ForecastDecomposition | null;
}

export interface LoadedForecaster {
  forecaster: Forecaster;
  config: ForecasterConfig;
  series: Map<string, ServedSeries>;
}

const GetQuery = z
  .object({
    series: z.string().trim().min(1, 'must name a series').max(256),
    horizon: z.coerce.number().int().min(1).optional(),
  })
  .strict();

const PostBody = z
  .object({
    history: z.array(z.number().finite().min(-1e15).max(1e15)).min(1, 'must hold at least one value').max(MAX_OBSERVATIONS),
    horizon: z.number().int().min(1).optional(),
    series_id: z.string().trim().min(1).max(256).optional(),
  })
  .strict();

const Actual = z
  .object({
    series_id: z.string().trim().min(1).max(256),
    week_start: z.iso.date().optional(),
    week: z.number().int().min(0).optional(),
    quantity: z.number().finite().min(0).max(MAX_QUANTITY),
  })
  .strict()
  .refine((a) => (a.week_start === undefined) !== (a.week === undefined), { message: 'give week_start (a dated series) or week (a series file\'s index), not both', path: ['week_start'] });
const parseActuals = oneOrMany(Actual, MAX_ACTUALS_PER_REQUEST, 'actual');

function horizonOf(requested: number | undefined, config: ForecasterConfig): number {
  if (requested === undefined) return config.horizon;
  if (requested > config.horizon) throw new ForecastRequestError(400, 'horizon', `must be at most ${config.horizon}, the horizon the model was trained for; got ${requested}`);
  return requested;
}

/** The explanation of the first `horizon` weeks. */
function explanationOf(decomposition: ForecastDecomposition, horizon: number) {
  return { level: decomposition.level, trend: Array.from(decomposition.trend.subarray(0, horizon)), season: Array.from(decomposition.season.subarray(0, horizon)) };
}

function weeks(forecast: QuantileForecast, horizon: number, nextWeek: number | null, dated: boolean) {
  return Array.from({ length: horizon }, (_, k) => ({
    step: k + 1,
    week: nextWeek === null ? null : nextWeek + k,
    ...(dated && nextWeek !== null ? { week_start: isoWeekStart(nextWeek + k) } : {}),
    p10: forecast.p10[k],
    p50: forecast.p50[k],
    p90: forecast.p90[k],
  }));
}

/** The published batch forecast: one row per series and forecast step. */
export const FORECASTS_SCHEMA = new Schema([
  new Field('series_id', new Utf8(), false),
  new Field('method', new Utf8(), false),
  new Field('next_week', new Int32(), false),
  new Field('dated', new Bool(), false),
  new Field('scale', new Float64(), true),
  new Field('step', new Int32(), false),
  new Field('p10', new Float64(), false),
  new Field('p50', new Float64(), false),
  new Field('p90', new Float64(), false),
  // The p50's decomposition (explanations): level is the series', trend and season the step's.
  new Field('level', new Float64(), true),
  new Field('trend', new Float64(), true),
  new Field('season', new Float64(), true),
]);

/** Forecasts every series of the version's `series` artifact from its last week: the `forecasts` artifact deploy publishes. */
export async function batchForecast(rt: KindRuntime, model: ModelUnderTest): Promise<Record<string, ArtifactRef>> {
  const config = model.bundle.config as unknown as ForecasterConfig;
  const forecaster = Forecaster.fromWeights(config, model.bundle.tensors);
  for (const tensor of Object.values(model.bundle.tensors)) tensor.dispose();
  try {
    const options = ForecastOptions.parse({ horizon: config.horizon, seasonality: config.seasonality, minHistory: config.minHistory });
    const all = seriesFromTable(await rt.readTable(model.artifactKey('series')), options);
    const forecasts = forecaster.forecast(all.map((s) => s.capped), all.map((s) => s.original));
    const columns: Record<string, unknown[]> = Object.fromEntries(FORECASTS_SCHEMA.fields.map((f) => [f.name, []]));
    all.forEach((s, i) => {
      const scale = maseScale(s.original, config.seasonality);
      const { level, trend, season } = decomposeForecast(modelInput(config, s.capped, s.original), forecasts[i].p50, config.seasonality);
      for (let k = 0; k < config.horizon; k++) {
        const row = { series_id: s.id, method: forecasts[i].method, next_week: (s.firstWeek ?? 0) + s.original.length, dated: s.firstWeek !== null, scale: Number.isFinite(scale) && scale > 0 ? scale : null, step: k + 1, p10: forecasts[i].p10[k], p50: forecasts[i].p50[k], p90: forecasts[i].p90[k], level, trend: trend[k], season: season[k] };
        for (const [name, value] of Object.entries(row)) columns[name].push(value);
      }
    });
    rt.log.info({ series: all.length, method: config.method }, 'batch forecast computed');
    return { forecasts: await rt.putTable('forecasts', tableFromColumns(FORECASTS_SCHEMA, columns)) };
  } finally {
    forecaster.dispose();
  }
}

/** The batch forecast by series, as GET serves it. */
function servedSeries(table: Awaited<ReturnType<typeof readTable>>, horizon: number): Map<string, ServedSeries> {
  const column = (name: string) => table.getChild(name)!;
  const [ids, methods, nextWeeks, dated, scales, p10, p50, p90] = ['series_id', 'method', 'next_week', 'dated', 'scale', 'p10', 'p50', 'p90'].map(column);
  const [levels, trends, seasons] = ['level', 'trend', 'season'].map((name) => table.getChild(name));
  const series = new Map<string, ServedSeries>();
  for (let first = 0; first < table.numRows; first += horizon) {
    const slice = (values: typeof p10) => Float64Array.from({ length: horizon }, (_, k) => values.get(first + k) as number);
    const scale = scales.get(first) as number | null;
    series.set(ids.get(first) as string, {
      nextWeek: nextWeeks.get(first) as number,
      dated: dated.get(first) as boolean,
      scale,
      forecast: { p10: slice(p10), p50: slice(p50), p90: slice(p90), method: methods.get(first) as string },
      decomposition: levels && trends && seasons && levels.get(first) !== null ? { level: levels.get(first) as number, trend: slice(trends), season: slice(seasons) } : null,
    });
  }
  return series;
}

export const forecastServing: ServingHandler<LoadedForecaster> = {
  explanation: { method: 'decomposition', attributes: 'p50 per week -> recent level + trend + seasonality (the forecaster\'s seasonal adjustment)' },
  async load({ store, bundle, artifactKey }) {
    const config = bundle.config as unknown as ForecasterConfig;
    const forecaster = Forecaster.fromWeights(config, bundle.tensors);
    for (const tensor of Object.values(bundle.tensors)) tensor.dispose();
    try {
      return { forecaster, config, series: servedSeries(await readTable(store, artifactKey('forecasts')), config.horizon) };
    } catch (error) {
      forecaster.dispose();
      throw error;
    }
  },
  dispose: (loaded) => loaded.forecaster.dispose(),
  describe: (loaded) => ({ method: loaded.config.method, horizon: loaded.config.horizon, series: loaded.series.size }),
  sampleRequest: (loaded) => ({ method: 'GET', url: `/forecast?series=${encodeURIComponent(loaded.series.keys().next().value ?? '')}&horizon=${loaded.config.horizon}` }),
  routes(app, host) {
    app.get('/forecast', async (request, reply) => {
      const query = host.parse(GetQuery, request.query);
      return host.serve(request, reply, async (loaded) => {
        const horizon = horizonOf(query.horizon, loaded.config);
        const served = loaded.series.get(query.series);
        if (!served) throw new ForecastRequestError(404, 'series', `no series "${query.series}" in this version's data (${loaded.series.size} series)`);
        const forecasts = weeks(served.forecast, horizon, served.nextWeek, served.dated);
        const now = Date.now();
        let explanation: ReturnType<typeof explanationOf> | undefined;
        if (host.explains(request)) {
          if (!served.decomposition) throw new ForecastRequestError(404, 'explain', 'this version published its batch forecast without decompositions; POST the history to explain it');
          explanation = explanationOf(served.decomposition, horizon);
        }
        return {
          body: { series_id: query.series, method: served.forecast.method, horizon, forecasts, ...(explanation ? { explanation } : {}) },
          logged: forecasts.map((f) => ({ type: 'forecast', series_id: query.series, week: f.week, step: f.step, p10: f.p10, p50: f.p50, p90: f.p90, quantity: null, scale: served.scale, timestamp: now })),
        };
      });
    });

    app.post('/forecast', SCORING_ROUTE, async (request, reply) => {
      const body = host.parse(PostBody, request.body);
      return host.serve(request, reply, async (loaded) => {
        const horizon = horizonOf(body.horizon, loaded.config);
        if (body.history.length < loaded.config.minHistory) {
          throw new ForecastRequestError(400, 'history', `has ${body.history.length} values; this model needs at least ${loaded.config.minHistory} weeks`);
        }
        const [forecast] = loaded.forecaster.forecast([body.history]);
        const forecasts = weeks(forecast, horizon, null, false);
        const now = Date.now();
        // A posted history is forecast as given (capped and original alike), so it is what the decomposition reads.
        const explanation = host.explains(request) ? explanationOf(decomposeForecast(body.history, forecast.p50, loaded.config.seasonality), horizon) : undefined;
        return {
          body: { series_id: body.series_id ?? null, method: forecast.method, horizon, forecasts, ...(explanation ? { explanation } : {}) },
          logged: forecasts.map((f) => ({ type: 'forecast', series_id: body.series_id ?? null, week: null, step: f.step, p10: f.p10, p50: f.p50, p90: f.p90, quantity: null, scale: null, timestamp: now })),
        };
      });
    });

    app.post('/feedback', async (request, reply) => {
      const actuals = host.check(parseActuals(request.body));
      const version = host.liveVersion();
      const known = host.live().series;
      const now = Date.now();
      const rows = actuals.map((a) => ({
        type: 'actual',
        model_version: version,
        series_id: a.series_id,
        week: a.week ?? weekOf(Date.parse(a.week_start!)),
        step: null,
        p10: null,
        p50: null,
        p90: null,
        quantity: a.quantity,
        scale: null,
        timestamp: now,
      }));
      await host.logFeedback(rows);
      return reply.status(202).send({ request_id: request.id, accepted: rows.length, unknown_series: [...new Set(actuals.filter((a) => !known.has(a.series_id)).map((a) => a.series_id))] });
    });
  },
};
