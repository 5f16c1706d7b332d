/**
 * Fraud-scoring benchmark: `npm run bench:risk -- --data <transactions.csv.gz>
 * [--protocol single|prequential] [--train-start D --train-days N --delay-days N --test-days N] [--json]`.
 *
 * Runs the pipeline's own activities (collect, preprocess, train, evaluate) for the
 * transaction-risk kind against the local S3 stack, and prints our model and our
 * logistic-regression baseline beside the Fraud Detection Handbook's rows for the protocol
 * (read from ../shared/datasets/README.md). `single` is the handbook's week: train from
 * 2018-07-25 for 7 days, 7 days' delay, test 2018-08-08 .. 14. `prequential` is its four
 * weekly folds, test weeks from 2018-08-08 to 2018-09-04, each trained on the 7 days that
 * end 14 days before, averaged.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createActivities } from '../activities';
import { kindOf } from '../activities/model-kinds/registry';
import { ObjectStore } from '../activities/storage/object-store';
import { loadConfig } from '../infra/config';
import { datasetPath } from '../infra/datasets';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { importFile } from '../sources/import';
import { parseLifecycleInput } from '../schemas/lifecycle-input';
import { handbookRows } from './handbook-results';
import { formatTable } from '../infra/text-table';
import type { Metrics, StepContext } from '../schemas/steps';

const DATASETS_README = datasetPath('README.md');
const DAY_MS = 86_400_000;
const CP = 'cardPrecision@100';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const addDays = (iso: string, days: number) => new Date(Date.parse(iso) + days * DAY_MS).toISOString().slice(0, 10);
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

interface Fold {
  trainStart: string;
  testStart: string;
  model: Metrics;
  baseline: Metrics;
  trainSeconds: number;
  epochs: number;
  backend: string;
}

async function main(): Promise<void> {
  const program = new Command('bench:risk')
    .requiredOption('--data <file>', 'card transactions (CSV, JSONL or Arrow, gzip allowed)')
    .addOption(new Option('--protocol <name>', 'the handbook protocol').choices(['single', 'prequential']).default('single'))
    .option('--train-start <date>', 'first training day (YYYY-MM-DD); default the protocol\'s')
    .option('--train-days <n>', 'training window', positiveInt, 7)
    .option('--delay-days <n>', 'delay between training and test', positiveInt, 7)
    .option('--test-days <n>', 'test window', positiveInt, 7)
    .option('--hp <json>', 'hyperparameter overrides for experiments', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--force', 'recompute even if this exact configuration ran before')
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<{ data: string; protocol: 'single' | 'prequential'; trainStart?: string; trainDays: number; delayDays: number; testDays: number; hp?: Record<string, unknown>; force?: boolean; json?: boolean }>();
  if (!existsSync(options.data)) throw new Error(`${options.data}: no such file`);

  const log = createLogger('bench-risk');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const kind = kindOf('transaction-risk');
  const dataset = 'bench-card-transactions';
  await importFile(store, options.data, dataset, kind);
  const activities = createActivities({ store, log });

  const firstStart = options.trainStart ?? '2018-07-25';
  const starts = options.protocol === 'single' ? [firstStart] : [0, 1, 2, 3].map((week) => addDays(firstStart, 7 * week));
  const folds: Fold[] = [];
  const loadBefore = os.loadavg()[0];
  for (const trainStart of starts) {
    const riskOptions = { trainStart, trainDays: options.trainDays, delayDays: options.delayDays, testDays: options.testDays };
    const ctx: StepContext = {
      config: parseLifecycleInput({ kind: kind.name, dataset, force: options.force ?? false, hyperparameters: options.hp ?? {}, options: riskOptions }),
      workflowId: `bench-risk-${trainStart}`,
      runId: 'bench',
      startedAt: new Date().toISOString(),
    };
    ctx.config.hyperparameters = (await activities.chooseHyperparameters(ctx, options.hp !== undefined)).values;
    const collected = await activities.collect(ctx);
    const prepared = await activities.preprocess(ctx, collected);
    const trained = await activities.train(ctx, prepared);
    const evaluation = await activities.evaluate(ctx, prepared, trained);
    log.info({ trainStart, detail: prepared.detail, model: evaluation.candidate, baseline: evaluation.baseline }, 'fold done');
    folds.push({ trainStart, testStart: addDays(trainStart, options.trainDays + options.delayDays), model: evaluation.candidate, baseline: evaluation.baseline, trainSeconds: trained.trainSeconds, epochs: trained.epochs, backend: trained.backend });
  }
  store.client.destroy();

  const averaged = (pick: (f: Fold) => Metrics) => Object.fromEntries(['auc', 'ap', CP].map((m) => [m, mean(folds.map((f) => pick(f)[m]))]));
  const ours = averaged((f) => f.model);
  const baseline = averaged((f) => f.baseline);
  const published = existsSync(DATASETS_README) ? handbookRows(readFileSync(DATASETS_README, 'utf8'), options.protocol) : [];
  const fmt = (v: number) => v.toFixed(3).replace(/^0/, '');
  const trainSeconds = folds.reduce((n, f) => n + f.trainSeconds, 0);
  console.log(`\nFraud Detection Handbook, ${options.protocol === 'single' ? 'one test week' : `${folds.length} weekly folds (mean)`}: test from ${folds.map((f) => f.testStart).join(', ')}, ${options.trainDays} training days, ${options.delayDays} days' delay, ${options.testDays} test days; 1-min load ${loadBefore.toFixed(1)}`);
  console.log(
    formatTable(
      ['model', 'source', 'AUC-ROC', 'AP', 'card precision@100', 'train s', 'backend'],
      [
        ['MLP', 'storeloop', fmt(ours.auc), fmt(ours.ap), fmt(ours[CP]), trainSeconds.toFixed(0), folds[0].backend],
        ['logistic regression', 'storeloop', fmt(baseline.auc), fmt(baseline.ap), fmt(baseline[CP]), '', ''],
        ...published.map((r) => [r.model, 'handbook', fmt(r.auc), fmt(r.ap), fmt(r.cardPrecision), '', '']),
      ],
    ),
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ protocol: options.protocol, auc: ours.auc, ap: ours.ap, [CP]: ours[CP], baselineAp: baseline.ap, baselineAuc: baseline.auc, baselineCardPrecision: baseline[CP], trainSeconds, loadAverage: loadBefore, folds, published })}\n`);
  }
}

main().catch((error: Error) => {
  console.error(`bench:risk: ${error.message}`);
  process.exit(1);
});
