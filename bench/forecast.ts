/**
 * Forecasting benchmark: `npm run bench:forecast -- --data ../shared/datasets/m4-weekly
 * [--horizon 13] [--seasonality 1] [--hp <json>] [--json]`.
 *
 * Runs the demand-forecast kind's own steps in-process (no S3 or Temporal: the M4 files are
 * read straight from disk) on an M4 frequency: train.csv and test.csv are read through the
 * kind's series-file contract, each series is train + test, and the kind's preprocessing
 * cuts the last `horizon` values (test.csv) as the test window and the `horizon` before it
 * as validation. Training and model selection see the validation window only; test.csv is
 * scored once per method. Prints each method's sMAPE, MASE, OWA and 80% interval coverage
 * beside the official M4 rows of the frequency (from ../shared/datasets/README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseRawFile } from '../activities/collect/raw-files';
import { seriesSource } from '../activities/model-kinds/demand-forecast/sources';
import { prepareSeries, type RawSeries } from '../activities/model-kinds/demand-forecast/prepare';
import { ForecastOptions } from '../activities/model-kinds/demand-forecast/protocol';
import { beforeTest, forecastEvaluation, testWindows } from '../activities/model-kinds/demand-forecast/evaluation';
import { candidateForecasts, CANDIDATES, Forecaster, intervalOffsets, naive2Forecaster, trainForecaster, validationWindows } from '../ml/forecast/forecaster';
import { ForecastHyperparameters } from '../ml/forecast/global-mlp';
import { selectBackend } from '../ml/backend';
import { formatTable } from '../infra/text-table';
import { datasetPath } from '../infra/datasets';
import type { Metrics } from '../schemas/steps';

const DATASETS_README = datasetPath('README.md');

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export interface PublishedRow {
  model: string;
  smape: number;
  mase: number;
  owa: number;
}

/** The "<model> 9.161 / 2.777 / 1.000" rows (sMAPE / MASE / OWA) of the README section `## <name>/`. */
export function publishedRows(readme: string, section: string): PublishedRow[] {
  const start = readme.indexOf(`## ${section}/`);
  if (start < 0) return [];
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ');
  const rows: PublishedRow[] = [];
  let previous = 0;
  for (const match of text.matchAll(/(\d+\.\d+)\s*\/\s*(\d+\.\d+)\s*\/\s*(\d+\.\d+)/g)) {
    const model = text
      .slice(previous, match.index)
      .replace(/^.*:\s*/, '')
      .replace(/^[\s,;.]+|[\s,;]+$/g, '')
      .replace(/\s+scored$/, '')
      .trim();
    rows.push({ model, smape: Number(match[1]), mase: Number(match[2]), owa: Number(match[3]) });
    previous = match.index + match[0].length;
  }
  return rows;
}

async function readSeriesFile(file: string): Promise<Map<string, number[]>> {
  const parsed = await parseRawFile(path.basename(file), readFileSync(file), seriesSource.row, seriesSource.required);
  if (parsed.problems.length > 0) throw new Error(`${file}: ${parsed.problems.length} invalid rows, first: row ${parsed.problems[0].row} ${parsed.problems[0].field}: ${parsed.problems[0].message}`);
  return new Map(parsed.rows.map((r) => [r.series_id, r.values]));
}

async function main(): Promise<void> {
  const program = new Command('bench:forecast')
    .requiredOption('--data <dir>', 'an M4 frequency: a folder with train.csv and test.csv')
    .option('--horizon <n>', 'forecast horizon (M4: yearly 6, quarterly 8, monthly 18, weekly 13, daily 14, hourly 48)', positiveInt, 13)
    .option('--seasonality <n>', 'MASE lag and Naive2 period (M4: 1, 4, 12, 1, 1, 24)', positiveInt, 1)
    .option('--hp <json>', 'hyperparameter overrides for experiments', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--options <json>', 'preprocessing option overrides for experiments, e.g. {"outlierThreshold":0}', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const cli = program.opts<{ data: string; horizon: number; seasonality: number; hp?: Record<string, unknown>; options?: Record<string, unknown>; json?: boolean }>();
  const [trainFile, testFile] = ['train.csv', 'test.csv'].map((f) => path.join(cli.data, f));
  for (const f of [trainFile, testFile]) if (!existsSync(f)) throw new Error(`${f}: no such file`);
  const backend = await selectBackend();
  const options = ForecastOptions.parse({ ...cli.options, horizon: cli.horizon, seasonality: cli.seasonality });
  const hyperparameters = ForecastHyperparameters.parse(cli.hp ?? {});
  const loadBefore = os.loadavg()[0];
  const started = Date.now();

  const [train, test] = await Promise.all([readSeriesFile(trainFile), readSeriesFile(testFile)]);
  const raw: RawSeries[] = [...train].map(([id, values]) => {
    const future = test.get(id);
    if (!future || future.length !== options.horizon) throw new Error(`series ${id}: test.csv has ${future?.length ?? 0} values, the horizon is ${options.horizon}`);
    return { id, level: 'series', category: null, firstWeek: null, values: [...values, ...future] };
  });
  const series = prepareSeries(raw, options);
  const { values, originals } = beforeTest(series);
  const trained = await trainForecaster({ hyperparameters, ...options, values, originals });

  // Each candidate as the model, with its own intervals from the validation window.
  const validation = validationWindows(trained.config.input === 'original' ? originals : values, originals, options).windows;
  const validationPoints = candidateForecasts(validation.map((w) => w.history), options.horizon, options.seasonality, trained.mlp);
  const rows: { method: string; metrics: Metrics; validationOwa: number }[] = CANDIDATES.map((method) => {
    const forecaster = new Forecaster({ ...trained.config, method, ...intervalOffsets(validation, validationPoints.get(method)!, options.seasonality, options.horizon) }, trained.mlp);
    return { method, metrics: forecastEvaluation(forecaster, series).metrics, validationOwa: trained.config.validation[method].owa };
  });
  const baseline = forecastEvaluation(naive2Forecaster(beforeTest(series, 'original').values, originals, options), series, 'original').metrics;
  const chosen = rows.find((r) => r.method === trained.config.method)!;
  const seconds = (Date.now() - started) / 1000;
  const published = existsSync(DATASETS_README) ? publishedRows(readFileSync(DATASETS_README, 'utf8'), path.basename(path.resolve(cli.data))) : [];
  trained.mlp.dispose();

  const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '');
  const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '');
  console.log(
    `\nM4 ${path.basename(path.resolve(cli.data))}: ${series.length} series, horizon ${options.horizon}, seasonality ${options.seasonality}; ${testWindows(series).length} scored on test.csv; ` +
      `model chosen on the validation window: ${trained.config.method} on ${trained.config.input === 'original' ? 'observed histories' : 'histories with outliers capped'}; training ${trained.trainSeconds.toFixed(0)} s (the chosen global MLP: ${trained.history.length} epochs, best ${trained.bestEpoch}) on ${backend.name}; whole bench ${seconds.toFixed(0)} s; 1-min load ${loadBefore.toFixed(1)}`,
  );
  console.log(
    formatTable(
      ['method', 'source', 'sMAPE', 'MASE', 'OWA', '80% coverage', 'MSIS', 'validation OWA'],
      [
        ...rows.map((r) => [r.method === chosen.method ? `${r.method} (the model)` : r.method, 'storeloop', f3(r.metrics.smape), f3(r.metrics.mase), f3(r.metrics.owa), pct(r.metrics.coverage80), f3(r.metrics.msis), f3(r.validationOwa)]),
        ['Naive2 (as observed; the baseline)', 'storeloop', f3(baseline.smape), f3(baseline.mase), f3(baseline.owa), pct(baseline.coverage80), f3(baseline.msis), ''],
        ...published.map((p) => [p.model, 'M4 official', f3(p.smape), f3(p.mase), f3(p.owa), '', '', '']),
      ],
    ),
  );
  if (cli.json) {
    process.stdout.write(
      `${JSON.stringify({ data: cli.data, horizon: options.horizon, seasonality: options.seasonality, method: chosen.method, input: trained.config.input, ...chosen.metrics, trainSeconds: trained.trainSeconds, benchSeconds: seconds, epochs: trained.history.length, bestEpoch: trained.bestEpoch, backend: backend.name, loadAverage: loadBefore, baseline, methods: rows, published })}\n`,
    );
  }
}

main().catch((error: Error) => {
  console.error(`bench:forecast: ${error.message}`);
  process.exit(1);
});
