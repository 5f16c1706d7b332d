/**
 * Recommendation quality benchmark: `npm run bench:recsys -- --data <sequences.txt>`.
 *
 * Runs the pipeline's own activities (collect, preprocess, train, evaluate) in this
 * process against the local S3 stack, so the numbers are those of the code the nightly
 * pipeline ships, and prints them beside the popularity baseline and the published rows
 * for the same file (read from ../shared/datasets/README.md).
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { createActivities } from '../activities';
import { nextItemKind } from '../activities/model-kinds/next-item';
import { ObjectStore } from '../activities/storage/object-store';
import { loadConfig } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { datasetNameFor, importFile } from '../sources/import';
import { parseLifecycleInput } from '../schemas/lifecycle-input';
import { METRICS, publishedRows, type ResultRow } from './published-results';
import { formatTable } from '../infra/text-table';
import { datasetPath } from '../infra/datasets';
import type { StepContext } from '../schemas/steps';

const DATASETS_README = datasetPath('README.md');
/** Column of the published table for each benchmark folder. */
const PUBLISHED_COLUMNS: Record<string, string> = { 'amazon-beauty': 'Beauty', 'amazon-toys': 'Toys' };

type Row = ResultRow & { trainSeconds?: number; samplesPerSecond?: number; backend?: string; epochs?: number };

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

async function main(): Promise<void> {
  const program = new Command('bench:recsys')
    .requiredOption('--data <file>', 'a `user item item ...` sequences file')
    .option('--model <name>', 'sasrec, gru or all', 'sasrec')
    .option('--seed <n>', 'random seed', positiveInt, 42)
    .option('--epochs <n>', 'maximum epochs (default: the pipeline default)', positiveInt)
    .option('--hp <json>', 'hyperparameter overrides for experiments, e.g. \'{"softmax":"full"}\'', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--force', 'retrain even if this exact configuration was trained before')
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<{ data: string; model: string; seed: number; epochs?: number; hp?: Record<string, unknown>; force?: boolean; json?: boolean }>();
  if (!existsSync(options.data)) throw new Error(`${options.data}: no such file`);
  const models = options.model === 'all' ? (['sasrec', 'gru'] as const) : [options.model];

  const log = createLogger('bench-recsys');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const source = datasetNameFor(options.data);
  const dataset = `bench-${source}`;
  await importFile(store, options.data, dataset, nextItemKind);
  const activities = createActivities({ store, log });

  const rows: Row[] = [];
  let summary: Record<string, unknown> | undefined;
  for (const model of models) {
    const ctx: StepContext = {
      config: parseLifecycleInput({
        dataset,
        force: options.force ?? false,
        hyperparameters: { ...options.hp, model, seed: options.seed, ...(options.epochs ? { epochs: options.epochs } : {}) },
      }),
      workflowId: `bench-recsys-${dataset}-${model}`,
      runId: `seed-${options.seed}`,
      startedAt: new Date().toISOString(),
    };
    const collected = await activities.collect(ctx);
    const prepared = await activities.preprocess(ctx, collected);
    const trained = await activities.train(ctx, prepared);
    const evaluation = await activities.evaluate(ctx, prepared, trained);
    const metrics = evaluation.candidate as ResultRow['metrics'];
    const users = evaluation.evaluated;
    rows.push({ model: `${model}${trained.cached ? ' (cached)' : ''}`, source: 'storeloop', metrics, trainSeconds: trained.trainSeconds, samplesPerSecond: trained.samplesPerSecond, backend: trained.backend, epochs: trained.epochs });
    if (!rows.some((r) => r.model === 'popularity')) {
      rows.push({ model: 'popularity', source: 'storeloop', metrics: evaluation.baseline as ResultRow['metrics'] });
    }
    summary ??= { ...metrics, users, items: prepared.stats.items, trainSeconds: trained.trainSeconds, samplesPerSecond: trained.samplesPerSecond, backend: trained.backend, model, seed: options.seed, epochs: trained.epochs, bestEpoch: trained.bestEpoch };
  }
  const column = PUBLISHED_COLUMNS[source];
  if (column && existsSync(DATASETS_README)) rows.push(...publishedRows(readFileSync(DATASETS_README, 'utf8'), column));
  store.client.destroy();

  console.log(`\n${source}: full ranking over all ${String(summary?.items)} items, leave-one-out, ${String(summary?.users)} users`);
  console.log(
    formatTable(
      ['model', 'source', ...METRICS, 'train s', 'samples/s', 'backend'],
      rows.map((r) => [r.model, r.source, ...METRICS.map((m) => r.metrics[m].toFixed(4)), r.trainSeconds?.toFixed(0) ?? '', r.samplesPerSecond?.toFixed(0) ?? '', r.backend ?? '']),
    ),
  );
  if (options.json) process.stdout.write(`${JSON.stringify({ ...summary, dataset: source, rows })}\n`);
}

main().catch((error: Error) => {
  console.error(`bench:recsys: ${error.message}`);
  process.exit(1);
});
