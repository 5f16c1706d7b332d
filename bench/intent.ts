/**
 * Intent classification benchmark: `npm run bench:intent -- --data <dir> [--oos-label L]
 * [--encoder none] [--json]`. The directory holds `train.csv` and `test.csv` with columns
 * `text,category` (BANKING77's layout). Their rows become the intent-routing kind's
 * utterances, each with its file's split, and go through the pipeline's own activities
 * (collect, preprocess, train, evaluate) against the local S3 stack; the table prints our
 * model and our baseline beside the published rows for BANKING77 (read from
 * ../shared/datasets/README.md). Nothing is tuned per dataset: the kind's defaults run.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Command, Option } from 'commander';
import { parse } from 'csv-parse/sync';
import { trainAndEvaluate } from './pipeline-steps';
import { kindOf } from '../activities/model-kinds/registry';
import { ObjectStore } from '../activities/storage/object-store';
import { loadConfig } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { rawPrefix } from '../activities/collect/collect';
import { formatTable } from '../infra/text-table';
import { datasetPath } from '../infra/datasets';
import { publishedIntentRows } from './intent-results';

const DATASETS_README = datasetPath('README.md');

/** A CSV of `text,category` as the kind's JSONL rows, with the file's split. */
function utterancesOf(file: string, split: 'train' | 'test'): string {
  const rows = parse(readFileSync(file), { columns: true, bom: true, skip_empty_lines: true }) as Record<string, string>[];
  if (rows.length === 0 || !('text' in rows[0]) || !('category' in rows[0])) throw new Error(`${file}: expected columns text,category`);
  return rows.map((r) => JSON.stringify({ text: r.text, intent: r.category, split })).join('\n') + '\n';
}

async function main(): Promise<void> {
  const program = new Command('bench:intent')
    .requiredOption('--data <dir>', 'a directory with train.csv and test.csv (columns text,category)')
    .option('--oos-label <label>', 'the out-of-scope category, if the data has one')
    .addOption(new Option('--encoder <name>', 'the text encoder').choices(['none']).default('none'))
    .option('--hp <json>', 'hyperparameter overrides for experiments', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--force', 'recompute even if this exact configuration ran before')
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<{ data: string; oosLabel?: string; encoder: string; hp?: Record<string, unknown>; force?: boolean; json?: boolean }>();
  const files = { train: path.join(options.data, 'train.csv'), test: path.join(options.data, 'test.csv') };
  for (const file of Object.values(files)) if (!existsSync(file)) throw new Error(`${file}: no such file`);

  const log = createLogger('bench-intent');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const kind = kindOf('intent-routing');
  // One dataset per input directory's content, so another dataset never mixes with this one.
  const bodies = { train: utterancesOf(files.train, 'train'), test: utterancesOf(files.test, 'test') };
  const digest = createHash('sha256').update(bodies.train).update(bodies.test).digest('hex').slice(0, 12);
  const dataset = `bench-intent-${digest}`;
  for (const [split, body] of Object.entries(bodies)) await store.put(`${rawPrefix(dataset, 'utterances')}${split}.jsonl`, body, 'application/x-ndjson');
  const { prepared, trained, evaluation, baselineSeconds: evaluateSeconds, loadBefore } = await trainAndEvaluate(store, log, 'bench-intent', {
    kind: kind.name,
    dataset,
    force: options.force ?? false,
    hyperparameters: options.hp,
    options: options.oosLabel ? { oosLabel: options.oosLabel } : {},
  });
  store.client.destroy();

  const model = evaluation.candidate;
  const baseline = evaluation.baseline;
  const published = existsSync(DATASETS_README) ? publishedIntentRows(readFileSync(DATASETS_README, 'utf8')) : [];
  const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);
  console.log(`\n${path.basename(path.resolve(options.data))}: ${prepared.detail}; 1-min load ${loadBefore.toFixed(1)}`);
  if (model.oosRecall !== undefined) console.log(`out-of-scope rows (${options.oosLabel}) sent to a person: ${pct(model.oosRecall)} (baseline ${pct(baseline.oosRecall)})`);
  console.log(
    formatTable(
      ['model', 'source', 'accuracy', 'macro-F1', 'ECE', 'coverage at target', 'auto accuracy', 'train s', 'backend'],
      [
        ['embedding bag + MLP (from scratch)', 'storeloop', pct(model.accuracy), model.macroF1.toFixed(4), model.ece.toFixed(4), pct(model.coverage), pct(model.autoAccuracy), trained.trainSeconds.toFixed(0), trained.backend],
        [kind.baseline.label, 'storeloop', pct(baseline.accuracy), baseline.macroF1.toFixed(4), baseline.ece.toFixed(4), pct(baseline.coverage), pct(baseline.autoAccuracy), `~${evaluateSeconds.toFixed(0)}`, ''],
        ...published.map((r) => [r.model, 'published', pct(r.accuracy), '', '', '', '', '', '']),
      ],
    ),
  );
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        dataset: path.basename(path.resolve(options.data)),
        accuracy: model.accuracy,
        macroF1: model.macroF1,
        ece: model.ece,
        coverageAt97: model.coverage,
        autoAccuracy: model.autoAccuracy,
        ...(model.oosRecall === undefined ? {} : { oosRecall: model.oosRecall, baselineOosRecall: baseline.oosRecall }),
        baselineAccuracy: baseline.accuracy,
        baselineMacroF1: baseline.macroF1,
        trainSeconds: trained.trainSeconds,
        epochs: trained.epochs,
        backend: trained.backend,
        stats: prepared.stats,
        loadAverage: loadBefore,
        published,
      })}\n`,
    );
  }
}

main().catch((error: Error) => {
  console.error(`bench:intent: ${error.message}`);
  process.exit(1);
});
