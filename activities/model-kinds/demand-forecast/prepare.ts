/**
 * preprocess for demand forecasting: weekly series from the sales (per item and per
 * category) and from the series files, missing weeks filled with zero sales, outliers
 * flagged and capped (the observed values are kept), and the protocol's splits. Artifacts:
 *
 *   series   one row per series and week: id, level (item, category, series), category, week, value (capped), original, outlier, split
 *   scaling  one row per series: length, mean, standard deviation, MASE scale and outliers of the values before the test window, and whether it is short
 *
 * Outliers are found on the values before the test window only (the test window is never
 * looked at), with a centred window: the validation window's neighbours do inform the caps
 * of the last training weeks.
 */
import { Field, Float64, Int32, Int8, Schema, TimestampMillisecond, Utf8, type Table } from 'apache-arrow';
import { readBatches, tableFromColumns } from '../../storage/arrow-io';
import { InputDataError } from '../../errors';
import { maseScale } from '../../../ml/forecast/metrics';
import { ForecastOptions, SPLIT, DAY_MS, weekOf, weekOfDay, weekStartMs } from './protocol';
import type { KindRuntime } from '../contract';
import type { DatasetSnapshot, PreprocessResult } from '../../../schemas/steps';

export class NoSeriesError extends InputDataError {
  constructor(dataset: string, detail: string) {
    super('NoSeriesError', `dataset ${dataset}: ${detail} (upload sales to raw/${dataset}/sales/ or M4-layout series files to raw/${dataset}/series/, e.g. storeloop import <file> --kind demand-forecast --source series --dataset ${dataset})`);
  }
}

export type SeriesLevel = 'item' | 'category' | 'series';

/** One weekly series as collected, before preprocessing. */
export interface RawSeries {
  id: string;
  level: SeriesLevel;
  category: string | null;
  /** Week number (weeks since the epoch, Monday-based) of the first value; null for series files, which carry no dates. */
  firstWeek: number | null;
  values: number[];
}

export interface PreparedSeries extends RawSeries {
  /** Values the models see: outliers capped. */
  capped: Float64Array;
  original: Float64Array;
  outlier: Uint8Array;
  split: Int8Array;
  /** Too short for the models: forecast by the fallback. */
  short: boolean;
}

export const SERIES_SCHEMA = new Schema([
  new Field('series_id', new Utf8(), false),
  new Field('level', new Utf8(), false),
  new Field('category', new Utf8(), true),
  new Field('t', new Int32(), false),
  new Field('week_start', new TimestampMillisecond(), true),
  new Field('value', new Float64(), false),
  new Field('original', new Float64(), false),
  new Field('outlier', new Int8(), false),
  new Field('split', new Int8(), false),
]);

export const SCALING_SCHEMA = new Schema([
  new Field('series_id', new Utf8(), false),
  new Field('level', new Utf8(), false),
  new Field('observations', new Int32(), false),
  new Field('mean', new Float64(), false),
  new Field('std', new Float64(), false),
  new Field('mase_scale', new Float64(), true),
  new Field('last_value', new Float64(), false),
  new Field('outliers', new Int32(), false),
  new Field('short', new Int8(), false),
]);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * A Hampel filter: a value more than `threshold` robust standard deviations from the median
 * of the values within `halfWindow` of it (among the first `end`) is flagged and capped at
 * that bound. A window whose MAD is zero (flat or mostly-zero sales) flags nothing, so an
 * intermittent item's sales are not taken for outliers. The last `halfWindow` values are
 * never flagged: without the weeks after them, a spike cannot be told from a level shift,
 * and capping a new level would anchor every forecast on the old one.
 */
export function capOutliers(values: ArrayLike<number>, end: number, threshold: number, halfWindow: number): { capped: Float64Array; outlier: Uint8Array } {
  const capped = Float64Array.from(values);
  const outlier = new Uint8Array(values.length);
  if (threshold <= 0) return { capped, outlier };
  for (let t = 0; t < end - halfWindow; t++) {
    const window: number[] = [];
    for (let j = Math.max(0, t - halfWindow); j <= Math.min(end - 1, t + halfWindow); j++) window.push(values[j]);
    const center = median(window);
    const spread = 1.4826 * median(window.map((v) => Math.abs(v - center)));
    if (spread === 0) continue;
    const bound = threshold * spread;
    if (Math.abs(values[t] - center) > bound) {
      outlier[t] = 1;
      capped[t] = values[t] > center ? center + bound : center - bound;
    }
  }
  return { capped, outlier };
}

/** The splits, caps and shortness of each series (pure: the bench runs it on M4 files). */
export function prepareSeries(series: readonly RawSeries[], options: ForecastOptions): PreparedSeries[] {
  const { horizon } = options;
  return series.map((s) => {
    const n = s.values.length;
    const testStart = Math.max(0, n - horizon);
    const validationStart = Math.max(0, n - 2 * horizon);
    const split = Int8Array.from({ length: n }, (_, t) => (t >= testStart ? SPLIT.test : t >= validationStart ? SPLIT.validation : SPLIT.train));
    const { capped, outlier } = capOutliers(s.values, testStart, options.outlierThreshold, options.outlierHalfWindow);
    return { ...s, capped, original: Float64Array.from(s.values), outlier, split, short: n - 2 * horizon < options.minHistory };
  });
}

function scalingRow(s: PreparedSeries, options: ForecastOptions) {
  const history = s.original.subarray(0, Math.max(0, s.original.length - options.horizon));
  const values = history.length > 0 ? history : s.original;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const scale = maseScale(values, options.seasonality);
  return {
    series_id: s.id,
    level: s.level,
    observations: s.original.length,
    mean,
    std: Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length),
    mase_scale: Number.isFinite(scale) ? scale : null,
    last_value: s.original[s.original.length - 1],
    outliers: s.outlier.reduce((a, b) => a + b, 0),
    short: s.short ? 1 : 0,
  };
}

export function seriesTable(prepared: readonly PreparedSeries[]): Table {
  const rows = prepared.flatMap((s) =>
    Array.from(s.original, (original, t) => ({
      series_id: s.id,
      level: s.level,
      category: s.category,
      t: s.firstWeek === null ? t : s.firstWeek + t,
      week_start: s.firstWeek === null ? null : weekStartMs(s.firstWeek + t),
      value: s.capped[t],
      original,
      outlier: s.outlier[t],
      split: s.split[t],
    })),
  );
  return tableFromColumns(SERIES_SCHEMA, Object.fromEntries(SERIES_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof (typeof rows)[number]])])));
}

/** The series artifact back as series, in artifact order; shortness follows from the options. */
export function seriesFromTable(table: Table, options: ForecastOptions): PreparedSeries[] {
  const out: PreparedSeries[] = [];
  if (table.numRows === 0) return out;
  const col = (name: string) => table.getChild(name)!;
  const [ids, levels, categories, weekStarts] = ['series_id', 'level', 'category', 'week_start'].map(col);
  const [ts, values, originals, outliers, splits] = ['t', 'value', 'original', 'outlier', 'split'].map((name) => col(name).toArray() as ArrayLike<number>);
  let start = 0;
  for (let row = 0; row <= table.numRows; row++) {
    if (row < table.numRows && (row === start || ids.get(row) === ids.get(start))) continue;
    const slice = <T extends Float64Array | Uint8Array | Int8Array>(make: (n: number) => T, column: ArrayLike<number>): T => {
      const out = make(row - start);
      for (let r = start; r < row; r++) out[r - start] = column[r];
      return out;
    };
    const original = slice((n) => new Float64Array(n), originals);
    out.push({
      id: ids.get(start) as string,
      level: levels.get(start) as SeriesLevel,
      category: categories.get(start) as string | null,
      firstWeek: weekStarts.get(start) !== null ? ts[start] : null,
      values: Array.from(original),
      capped: slice((n) => new Float64Array(n), values),
      original,
      outlier: slice((n) => new Uint8Array(n), outliers),
      split: slice((n) => new Int8Array(n), splits),
      short: original.length - 2 * options.horizon < options.minHistory,
    });
    start = row;
  }
  return out;
}

interface WeeklySales {
  byItem: Map<string, Map<number, number>>;
  categoryOf: Map<string, string | null>;
  lastDay: number;
  otherEvents: number;
  afterCutoff: number;
}

async function readSales(rt: KindRuntime, snapshot: DatasetSnapshot, cutoffMs: number): Promise<WeeklySales> {
  const out: WeeklySales = { byItem: new Map(), categoryOf: new Map(), lastDay: Number.NEGATIVE_INFINITY, otherEvents: 0, afterCutoff: 0 };
  const partitions = snapshot.sources.sales?.partitions ?? [];
  for (const [index, partition] of partitions.entries()) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const [items, times, quantities, categories, types] = ['item_id', 'timestamp', 'quantity', 'category', 'event_type'].map((c) => batch.getChild(c)!);
      for (let row = 0; row < batch.numRows; row++) {
        const time = Number(times.get(row));
        if (time >= cutoffMs) {
          out.afterCutoff++;
          continue;
        }
        if (types.get(row) !== 'purchase') {
          out.otherEvents++;
          continue;
        }
        const item = items.get(row) as string;
        const week = weekOf(time);
        const weeks = out.byItem.get(item) ?? new Map<number, number>();
        weeks.set(week, (weeks.get(week) ?? 0) + (quantities.get(row) as number));
        out.byItem.set(item, weeks);
        const category = categories.get(row) as string | null;
        if (category !== null || !out.categoryOf.has(item)) out.categoryOf.set(item, category);
        out.lastDay = Math.max(out.lastDay, Math.floor(time / DAY_MS));
      }
    }
    rt.heartbeat({ partitions: index + 1, of: partitions.length });
  }
  return out;
}

/**
 * Weekly series per item, from its first week with a sale to the last complete week of the
 * data (a week whose Sunday has passed), missing weeks zero; and per category, their sum.
 */
export function weeklySeries(sales: Pick<WeeklySales, 'byItem' | 'categoryOf' | 'lastDay'>): RawSeries[] {
  const lastWeek = weekOfDay(sales.lastDay + 1) - 1;
  const items: RawSeries[] = [];
  for (const [item, weeks] of [...sales.byItem].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const firstWeek = Math.min(...weeks.keys());
    if (firstWeek > lastWeek) continue;
    items.push({ id: item, level: 'item', category: sales.categoryOf.get(item) ?? null, firstWeek, values: Array.from({ length: lastWeek - firstWeek + 1 }, (_, j) => weeks.get(firstWeek + j) ?? 0) });
  }
  const categories = new Map<string, RawSeries>();
  for (const s of items) {
    if (s.category === null) continue;
    const id = `category:${s.category}`;
    const total = categories.get(id) ?? { id, level: 'category' as const, category: s.category, firstWeek: s.firstWeek, values: [] };
    const first = Math.min(total.firstWeek!, s.firstWeek!);
    const merged = Array.from({ length: lastWeek - first + 1 }, (_, j) => {
      const week = first + j;
      const a = week >= total.firstWeek! ? (total.values[week - total.firstWeek!] ?? 0) : 0;
      return a + (week >= s.firstWeek! ? s.values[week - s.firstWeek!] : 0);
    });
    categories.set(id, { ...total, firstWeek: first, values: merged });
  }
  return [...items, ...[...categories.values()].sort((a, b) => (a.id < b.id ? -1 : 1))];
}

async function readSeriesFiles(rt: KindRuntime, snapshot: DatasetSnapshot): Promise<RawSeries[]> {
  const out: RawSeries[] = [];
  for (const partition of snapshot.sources.series?.partitions ?? []) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const ids = batch.getChild('series_id')!;
      const values = batch.getChild('values')!;
      for (let row = 0; row < batch.numRows; row++) {
        out.push({ id: ids.get(row) as string, level: 'series', category: null, firstWeek: null, values: Array.from(values.get(row)!.toArray() as Float64Array) });
      }
    }
  }
  return out;
}

export async function prepareForecastData(rt: KindRuntime, snapshot: DatasetSnapshot, options: ForecastOptions): Promise<Omit<PreprocessResult, 'cached' | 'kind'>> {
  const { dataset, dataCutoff } = rt.ctx.config;
  const sales = await readSales(rt, snapshot, dataCutoff ? Date.parse(dataCutoff) : Number.POSITIVE_INFINITY);
  const raw = [...weeklySeries(sales), ...(await readSeriesFiles(rt, snapshot))];
  if (raw.length === 0) throw new NoSeriesError(dataset, 'no sales before the cut-off and no series files');
  const seen = new Set<string>();
  for (const s of raw) {
    if (seen.has(s.id)) throw new NoSeriesError(dataset, `series id "${s.id}" occurs twice (an item and a series file, or two series files)`);
    seen.add(s.id);
  }
  const prepared = prepareSeries(raw, options);
  const scored = prepared.filter((s) => s.original.length > options.horizon);
  if (prepared.every((s) => s.short)) {
    throw new NoSeriesError(dataset, `every series is shorter than ${options.minHistory + 2 * options.horizon} weeks (minHistory ${options.minHistory} + validation ${options.horizon} + test ${options.horizon})`);
  }
  const stats = {
    series: prepared.length,
    items: prepared.filter((s) => s.level === 'item').length,
    categories: prepared.filter((s) => s.level === 'category').length,
    seriesFiles: prepared.filter((s) => s.level === 'series').length,
    shortSeries: prepared.filter((s) => s.short).length,
    unscoredSeries: prepared.length - scored.length,
    weeks: prepared.reduce((n, s) => n + s.original.length, 0),
    outliers: prepared.reduce((n, s) => n + s.outlier.reduce((a, b) => a + b, 0), 0),
    otherEvents: sales.otherEvents,
    afterCutoff: sales.afterCutoff,
  };
  const scaling = prepared.map((s) => scalingRow(s, options));
  return {
    artifacts: {
      series: await rt.putTable('series', seriesTable(prepared)),
      scaling: await rt.putTable('scaling', tableFromColumns(SCALING_SCHEMA, Object.fromEntries(SCALING_SCHEMA.fields.map((f) => [f.name, scaling.map((r) => r[f.name as keyof (typeof scaling)[number]])])))),
    },
    stats,
    rows: stats.weeks,
    detail: `${stats.series} weekly series (${stats.items} items, ${stats.categories} categories, ${stats.seriesFiles} from series files), ${stats.shortSeries} short (fallback), ${stats.outliers} outliers capped; test = last ${options.horizon} weeks`,
  };
}
