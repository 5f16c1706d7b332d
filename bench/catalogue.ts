/**
 * Product categorisation and matching benchmark: `npm run bench:catalogue -- --data
 * ../shared/datasets/pricerunner [--split random|merchant] [--json]`, and product
 * recognition from photos: `--images ../shared/datasets/grocery-store [--extractor ...]`
 * (bench/catalogue-images.ts); both in one run when both are given. The directory holds
 * PriceRunner's `pricerunner_aggregate.csv` (no header: product_id, title, merchant_id,
 * cluster_id, cluster_label, category_id, category_label; its "product_id" is the offer's
 * id, its cluster the product). Its rows become the kind's offers and go through the
 * pipeline's own activities (collect, preprocess, train, evaluate) against the local S3
 * stack; the split is the kind's (activities/model-kinds/product-categorisation/protocol.ts:
 * seeded, stratified by category, or by merchant). Nothing is tuned per dataset: the kind's
 * defaults run. The table prints our model and the TF-IDF nearest-centroid baseline beside
 * the published rows for PriceRunner.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Command, Option } from 'commander';
import { parse } from 'csv-parse/sync';
import { trainAndEvaluate } from './pipeline-steps';
import { kindOf } from '../activities/model-kinds/registry';
import { SPLIT_METHODS } from '../activities/model-kinds/product-categorisation/protocol';
import { ObjectStore } from '../activities/storage/object-store';
import { loadConfig } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { rawPrefix } from '../activities/collect/collect';
import { formatTable } from '../infra/text-table';
import { formatImageBench, imageBenchJson, runImageBench } from './catalogue-images';
import { BACKBONE_ARCHITECTURE } from '../ml/vision/efficientnet-lite';
import type { FeatureExtractor } from '../ml/vision/image-classifier';

const FILE = 'pricerunner_aggregate.csv';
const COLUMNS = ['offer_id', 'title', 'merchant_id', 'cluster_id', 'cluster_label', 'category_id', 'category_label'];

/** Published PriceRunner category accuracy on random 80/20 splits (../shared/datasets/README.md; Akritidis et al.). */
const PUBLISHED = [{ model: 'TF-IDF + linear SVM / fastText (random 80/20 splits)', accuracy: '~97-98%' }];

/** The aggregate file as the kind's JSONL offers. Its titles hold stray double quotes: quotes are not special in it. */
function offersOf(file: string): { body: string; rows: number } {
  const records = parse(readFileSync(file), { quote: false, skip_empty_lines: true }) as string[][];
  const lines = records.map((record, i) => {
    if (record.length !== COLUMNS.length) throw new Error(`${file} row ${i + 1}: expected ${COLUMNS.length} columns (${COLUMNS.join(', ')}), got ${record.length}`);
    const [offerId, title, merchantId, clusterId, , , category] = record;
    return JSON.stringify({ offer_id: offerId, title, merchant_id: merchantId, category, product_id: clusterId });
  });
  return { body: lines.join('\n') + '\n', rows: lines.length };
}

interface TitleBenchOptions {
  data: string;
  split: (typeof SPLIT_METHODS)[number];
  hp?: Record<string, unknown>;
  force?: boolean;
}

/** Titles through the pipeline's own steps: prints the table, returns the JSON fields. */
async function runTitleBench(options: TitleBenchOptions): Promise<Record<string, unknown>> {
  const file = path.join(options.data, FILE);
  if (!existsSync(file)) throw new Error(`${file}: no such file`);

  const log = createLogger('bench-catalogue');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const kind = kindOf('product-categorisation');
  const offers = offersOf(file);
  // One dataset per input file's content, so another dataset never mixes with this one.
  const dataset = `bench-catalogue-${createHash('sha256').update(offers.body).digest('hex').slice(0, 12)}`;
  await store.put(`${rawPrefix(dataset, 'offers')}offers.jsonl`, offers.body, 'application/x-ndjson');
  const { prepared, trained, evaluation, baselineSeconds, loadBefore } = await trainAndEvaluate(store, log, 'bench-catalogue', {
    kind: kind.name,
    dataset,
    force: options.force ?? false,
    hyperparameters: options.hp,
    options: { split: options.split },
  });
  store.client.destroy();

  const model = evaluation.candidate;
  const baseline = evaluation.baseline;
  const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(2)}%`);
  const ratio = (v: number | undefined) => (v === undefined ? '' : v.toFixed(4));
  console.log(`\n${path.basename(path.resolve(options.data))}, ${options.split} split: ${prepared.detail}; 1-min load ${loadBefore.toFixed(1)}`);
  console.log(
    formatTable(
      ['model', 'source', 'accuracy', 'macro-F1', 'match top-1', 'new-product P / R / F1', 'pair F1', 'train s', 'backend'],
      [
        ['embedding bag + MLP; offer encoder (from scratch)', 'storeloop', pct(model.accuracy), ratio(model.macroF1), pct(model.matchTop1), `${ratio(model.newProductPrecision)} / ${ratio(model.newProductRecall)} / ${ratio(model.newProductF1)}`, ratio(model.matchPairF1), trained.trainSeconds.toFixed(0), trained.backend],
        [kind.baseline.label, 'storeloop', pct(baseline.accuracy), ratio(baseline.macroF1), pct(baseline.matchTop1), `${ratio(baseline.newProductPrecision)} / ${ratio(baseline.newProductRecall)} / ${ratio(baseline.newProductF1)}`, ratio(baseline.matchPairF1), `~${baselineSeconds.toFixed(0)}`, ''],
        ...PUBLISHED.map((r) => [r.model, 'published', r.accuracy, '', '', '', '', '', '']),
      ],
    ),
  );
  return {
    dataset: path.basename(path.resolve(options.data)),
    split: options.split,
    accuracy: model.accuracy,
    macroF1: model.macroF1,
    matchTop1: model.matchTop1,
    newProductPrecision: model.newProductPrecision,
    newProductRecall: model.newProductRecall,
    newProductF1: model.newProductF1,
    matchPairF1: model.matchPairF1,
    baseline,
    trainSeconds: trained.trainSeconds,
    epochs: trained.epochs,
    bestEpoch: trained.bestEpoch,
    backend: trained.backend,
    stats: prepared.stats,
    loadAverage: loadBefore,
    published: PUBLISHED,
  };
}

async function main(): Promise<void> {
  const program = new Command('bench:catalogue')
    .option('--data <dir>', `titles: a directory with ${FILE} (PriceRunner)`)
    .addOption(new Option('--split <method>', 'how the test offers are chosen').choices([...SPLIT_METHODS]).default('random'))
    .option('--images <dir>', 'photos: the Grocery Store dataset directory (or one laid out like it)')
    .addOption(new Option('--extractor <name>', 'photos: the feature extractor (default: the pretrained backbone if installed)').choices([BACKBONE_ARCHITECTURE, 'small-cnn', 'both']))
    .option('--hp <json>', 'hyperparameter overrides for experiments', (v: string) => JSON.parse(v) as Record<string, unknown>)
    .option('--force', 'recompute even if this exact configuration ran before')
    .option('--json', 'print one JSON object on the last stdout line')
    .parse();
  const options = program.opts<TitleBenchOptions & { data?: string; images?: string; extractor?: FeatureExtractor | 'both'; json?: boolean }>();
  if (!options.data && !options.images) program.error('give --data (titles), --images (photos), or both');
  const json: Record<string, unknown> = {};
  if (options.data) Object.assign(json, await runTitleBench({ ...options, data: options.data }));
  if (options.images) {
    const extractors: FeatureExtractor[] | undefined = options.extractor === 'both' ? [BACKBONE_ARCHITECTURE, 'small-cnn'] : options.extractor ? [options.extractor] : undefined;
    const images = await runImageBench({ images: options.images, extractors, hp: options.hp, progress: (line) => console.error(line) });
    console.log(formatImageBench(images));
    const imageFields = imageBenchJson(images);
    // One run of both: the title bench's own fields keep their names, the image bench's training time gets its own.
    Object.assign(json, { ...imageFields, trainSeconds: json.trainSeconds ?? imageFields.trainSeconds, imageTrainSeconds: imageFields.trainSeconds });
  }
  if (options.json) process.stdout.write(`${JSON.stringify(json)}\n`);
}

main().catch((error: Error) => {
  console.error(`bench:catalogue: ${error.message}`);
  process.exit(1);
});
