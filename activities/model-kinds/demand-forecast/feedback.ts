/**
 * The demand-forecast kind's feedback: served forecasts (one logged row per week of a
 * GET or POST /forecast) joined with the actual sales posted to /feedback for the same
 * series and week, per model version: online sMAPE, MASE (each series' scale from the
 * `scaling` artifact) and 80% interval coverage, MASE being the guarded metric. Drift: PSI
 * of the week-to-week changes of the actuals, divided by each series' MASE scale (level),
 * and of their absolute values (volatility), against the same changes in the training data.
 */
import { Field, Float64, Int32, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { artifactOf } from '../../kind-runtime';
import { bucketOf, driftMeasure, edgeLabels, quantileEdges } from '../../drift';
import { timestampMs } from '../../feedback';
import { smapeTerm } from '../../../ml/forecast/metrics';
import { seriesFromTable } from './prepare';
import { ForecastOptions, SPLIT } from './protocol';
import type { FeedbackHandler, MetricSpec } from '../contract';
import type { DriftMeasure, OnlineMetrics } from '../../../schemas/steps';

const DRIFT_BUCKETS = 10;

export const FORECAST_FEEDBACK_SCHEMA = new Schema([
  new Field('type', new Utf8(), false),
  new Field('model_version', new Utf8(), false),
  new Field('series_id', new Utf8(), true),
  new Field('week', new Int32(), true),
  new Field('step', new Int32(), true),
  new Field('p10', new Float64(), true),
  new Field('p50', new Float64(), true),
  new Field('p90', new Float64(), true),
  new Field('quantity', new Float64(), true),
  /** The series' MASE scale (its history's mean absolute change), logged with each forecast so online MASE needs no lookup. */
  new Field('scale', new Float64(), true),
  new Field('timestamp', new TimestampMillisecond(), false),
]);

const ForecastFeedbackRow = z
  .object({
    type: z.enum(['forecast', 'actual']),
    model_version: z.string().min(1).max(128),
    series_id: z.string().max(256).nullish(),
    week: z.number().int().nullish(),
    step: z.number().int().min(1).nullish(),
    p10: z.number().nullish(),
    p50: z.number().nullish(),
    p90: z.number().nullish(),
    quantity: z.number().min(0).nullish(),
    scale: z.number().min(0).nullish(),
    timestamp: z.union([z.number(), z.string()]),
  })
  .strict();

export const FORECAST_ONLINE_METRICS: MetricSpec[] = [
  { name: 'mase', label: 'online MASE', direction: 'lower', format: 'ratio' },
  { name: 'smape', label: 'online sMAPE (%)', direction: 'lower', format: 'number' },
  { name: 'coverage80', label: 'online 80% interval coverage', direction: 'higher', format: 'percent' },
  { name: 'matched', label: 'forecast weeks with actuals', direction: 'higher', format: 'number' },
];

interface Served {
  version: string;
  scale: number | null;
  p10: number;
  p50: number;
  p90: number;
}

const key = (series: string, week: number) => `${series}|${week}`;

export const forecastFeedback: FeedbackHandler = {
  arrow: FORECAST_FEEDBACK_SCHEMA,
  row: ForecastFeedbackRow,
  online: FORECAST_ONLINE_METRICS,
  guarded: 'mase',
  start(rt, prepared) {
    const options = ForecastOptions.parse(rt.ctx.config.options);
    // Actuals come up to a horizon after the forecast, so the join spans the whole window; a later forecast of a week replaces an earlier one.
    const served = new Map<string, Served>();
    const actuals = new Map<string, number>();
    const requests = new Map<string, number>();
    const firstSeen = new Map<string, number>();
    return {
      add(row) {
        if (row.type === 'actual') {
          actuals.set(key(row.series_id as string, row.week as number), row.quantity as number);
          return;
        }
        const version = row.model_version as string;
        if (row.step === 1) requests.set(version, (requests.get(version) ?? 0) + 1);
        firstSeen.set(version, Math.min(firstSeen.get(version) ?? Infinity, timestampMs(row.timestamp)));
        if (row.series_id && row.week !== null && row.week !== undefined) served.set(key(row.series_id as string, row.week as number), { version, scale: (row.scale as number | null | undefined) ?? null, p10: row.p10 as number, p50: row.p50 as number, p90: row.p90 as number });
      },
      endDay: () => undefined,
      perVersion() {
        const out: Record<string, OnlineMetrics> = {};
        const sums = new Map<string, { smape: number; covered: number; matched: number; mase: number; maseCount: number }>();
        for (const [k, s] of served) {
          const actual = actuals.get(k);
          if (actual === undefined) continue;
          const sum = sums.get(s.version) ?? { smape: 0, covered: 0, matched: 0, mase: 0, maseCount: 0 };
          sum.smape += smapeTerm(actual, s.p50);
          sum.covered += actual >= s.p10 && actual <= s.p90 ? 1 : 0;
          sum.matched++;
          if (s.scale) {
            sum.mase += Math.abs(actual - s.p50) / s.scale;
            sum.maseCount++;
          }
          sums.set(s.version, sum);
        }
        for (const [version, count] of requests) {
          const sum = sums.get(version);
          out[version] = {
            requests: count,
            firstSeen: new Date(firstSeen.get(version) ?? 0).toISOString(),
            metrics: {
              matched: sum?.matched ?? 0,
              ...(sum && sum.matched > 0 ? { smape: sum.smape / sum.matched, coverage80: sum.covered / sum.matched } : {}),
              ...(sum && sum.maseCount > 0 ? { mase: sum.mase / sum.maseCount } : {}),
            },
          };
        }
        return out;
      },
      async drift(thresholdOf, minSample) {
        const series = seriesFromTable(await rt.readTable(artifactOf(prepared, 'series')), options);
        const known = new Map<string, number>();
        for (const row of await rt.readTable(artifactOf(prepared, 'scaling'))) if ((row.mase_scale as number | null) !== null && (row.mase_scale as number) > 0) known.set(row.series_id as string, row.mase_scale as number);
        const expectedChanges: number[] = [];
        for (const s of series) {
          const scale = known.get(s.id);
          if (!scale) continue;
          for (let t = 1; t < s.original.length; t++) if (s.split[t] !== SPLIT.test) expectedChanges.push((s.original[t] - s.original[t - 1]) / scale);
        }
        // An actual's change is from the week before it: another actual, or the series' own data.
        const lastOf = new Map(series.map((s) => [s.id, { week: (s.firstWeek ?? 0) + s.original.length - 1, values: s.original, firstWeek: s.firstWeek ?? 0 }]));
        const observedChanges: number[] = [];
        for (const [k, quantity] of actuals) {
          const [id, weekText] = [k.slice(0, k.lastIndexOf('|')), k.slice(k.lastIndexOf('|') + 1)];
          const week = Number(weekText);
          const scale = known.get(id);
          if (!scale) continue;
          const s = lastOf.get(id);
          const previous = actuals.get(key(id, week - 1)) ?? (s && week - 1 >= s.firstWeek && week - 1 <= s.week ? s.values[week - 1 - s.firstWeek] : undefined);
          if (previous !== undefined) observedChanges.push((quantity - previous) / scale);
        }
        const measure = (name: string, expected: number[], observed: number[]): DriftMeasure => {
          const edges = quantileEdges(expected, DRIFT_BUCKETS);
          const e = new Array<number>(edges.length + 1).fill(0);
          const a = new Array<number>(edges.length + 1).fill(0);
          for (const v of expected) e[bucketOf(edges, v)]++;
          for (const v of observed) a[bucketOf(edges, v)]++;
          return driftMeasure(name, edgeLabels(edges), e, a, thresholdOf(name), minSample);
        };
        return {
          'scaled weekly change': measure('scaled weekly change', expectedChanges, observedChanges),
          'scaled weekly |change|': measure('scaled weekly |change|', expectedChanges.map(Math.abs), observedChanges.map(Math.abs)),
        };
      },
    };
  },
};
