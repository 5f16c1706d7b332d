/**
 * Product recognition from photos, run by `npm run bench:catalogue -- --images <dir>
 * [--extractor efficientnet-lite0|small-cnn|both] [--hp <json>] [--json]`. The directory is the
 * Grocery Store dataset (Klasson et al., 2019) or one laid out like it: `dataset/train.txt`,
 * `val.txt` and `test.txt` with lines `path, fine_id, coarse_id`, and `dataset/classes.csv`.
 * The official split is used as published: train to fit, val for early stopping and
 * calibration, test only for the numbers below. The table prints our models beside the
 * majority-class baseline and the published ImageNet-pretrained results (read from
 * ../shared/datasets/README.md). Nothing is tuned per dataset: the defaults run.
 *
 * Measured on Grocery Store (official split, test 2,485 photos; 2 cores shared, 1-min load
 * 5-10), fine / coarse top-1, fine / coarse top-5, train seconds:
 *   EfficientNet-Lite0 frozen + heads: 70.6% / 82.9%, 94.5% / 97.0%, 389 s (362 s of it features)
 *   small CNN from scratch, --hp '{"epochs":25}': 50.7% / 61.4%, 87.0% / 91.5%, 908 s (still improving)
 *   majority class: 2.7% / 11.1%; published ImageNet-pretrained CNNs: ~86% / ~92%.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { selectBackend } from '../ml/backend';
import { datasetPath } from '../infra/datasets';
import { decodeImage, ImageRejectedError } from '../ml/vision/decode';
import { BACKBONE_ARCHITECTURE, sharedBackbone } from '../ml/vision/efficientnet-lite';
import { availableExtractor, ImageClassifier, ImageHyperparameters, topKAccuracy, trainImageClassifier, type FeatureExtractor, type LabelledImages } from '../ml/vision/image-classifier';
import { formatTable } from '../infra/text-table';

const DATASETS_README = datasetPath('README.md');

interface SplitEntry {
  file: string;
  fine: number;
  coarse: number;
}

/** `path, fine_id, coarse_id` lines; a bad line is named by file and line number. */
function readSplit(datasetDir: string, name: string): SplitEntry[] {
  const file = path.join(datasetDir, `${name}.txt`);
  if (!existsSync(file)) throw new Error(`${file}: no such file`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => ({ line: line.trim(), number: i + 1 }))
    .filter(({ line }) => line.length > 0)
    .map(({ line, number }) => {
      const [relative, fine, coarse] = line.split(',').map((c) => c.trim());
      const ids = [Number(fine), Number(coarse)];
      if (!relative || ids.some((v) => !Number.isInteger(v) || v < 0)) throw new Error(`${file}:${number}: expected "path, fine_id, coarse_id", got "${line}"`);
      return { file: path.join(datasetDir, relative), fine: ids[0], coarse: ids[1] };
    });
}

/** Fine and coarse class names by id from classes.csv. */
function readClasses(datasetDir: string): { fine: string[]; coarse: string[] } {
  const file = path.join(datasetDir, 'classes.csv');
  const rows = parse(readFileSync(file), { columns: true, bom: true, skip_empty_lines: true }) as Record<string, string>[];
  const fine: string[] = [];
  const coarse: string[] = [];
  rows.forEach((row, i) => {
    const fineId = Number(row['Class ID (int)']);
    const coarseId = Number(row['Coarse Class ID (int)']);
    const fineName = row['Class Name (str)'];
    const coarseName = row['Coarse Class Name (str)'];
    if (!Number.isInteger(fineId) || !Number.isInteger(coarseId) || !fineName || !coarseName) throw new Error(`${file}: row ${i + 2}: expected Class Name, Class ID, Coarse Class Name and Coarse Class ID`);
    fine[fineId] = fineName;
    coarse[coarseId] = coarseName;
  });
  for (const [level, names] of [['fine', fine], ['coarse', coarse]] as const) {
    const missing = Array.from(names, (n, i) => (n === undefined ? i : -1)).filter((i) => i >= 0);
    if (missing.length > 0) throw new Error(`${file}: no ${level} class named for ids ${missing.join(', ')}`);
  }
  return { fine, coarse };
}

/** Decodes a split at `size`; unusable images are left out and counted by reason (the pipeline quarantines them). */
async function decodeSplit(entries: SplitEntry[], size: number, classes: { fine: string[]; coarse: string[] }): Promise<{ data: LabelledImages; rejected: Record<string, number> }> {
  const images: Uint8Array[] = [];
  const fine: number[] = [];
  const coarse: number[] = [];
  const rejected: Record<string, number> = {};
  for (const entry of entries) {
    if (entry.fine >= classes.fine.length || entry.coarse >= classes.coarse.length) throw new Error(`${entry.file}: class ids ${entry.fine}/${entry.coarse} are not in classes.csv`);
    try {
      images.push((await decodeImage(readFileSync(entry.file), size)).pixels);
      fine.push(entry.fine);
      coarse.push(entry.coarse);
    } catch (error) {
      if (!(error instanceof ImageRejectedError)) throw error;
      rejected[error.reason] = (rejected[error.reason] ?? 0) + 1;
    }
  }
  return { data: { images, size, fine: Int32Array.from(fine), coarse: Int32Array.from(coarse) }, rejected };
}

function majorityAccuracy(trainLabels: Int32Array, testLabels: Int32Array, k: number): number {
  const counts = new Map<number, number>();
  for (const label of trainLabels) counts.set(label, (counts.get(label) ?? 0) + 1);
  const topK = new Set([...counts].sort((a, b) => b[1] - a[1]).slice(0, k).map(([label]) => label));
  return testLabels.filter((l) => topK.has(l)).length / Math.max(1, testLabels.length);
}

export interface ImageModelResult {
  extractor: FeatureExtractor;
  label: string;
  top1Fine: number;
  top1Coarse: number;
  top5Fine: number;
  top5Coarse: number;
  trainSeconds: number;
  featureSeconds: number;
  epochs: number;
  bestEpoch: number;
  validationTop1Fine: number;
}

export interface ImageBenchResult {
  dataset: string;
  counts: { train: number; validation: number; test: number };
  rejected: Record<string, number>;
  models: ImageModelResult[];
  majority: { top1Fine: number; top1Coarse: number; top5Fine: number; top5Coarse: number };
  published: { fine: number; coarse: number } | null;
  backend: string;
  loadAverage: number;
}

const EXTRACTOR_LABELS: Record<FeatureExtractor, string> = {
  [BACKBONE_ARCHITECTURE]: 'EfficientNet-Lite0 (ImageNet, frozen) + softmax heads',
  'small-cnn': 'small CNN from scratch + augmentation',
};

/** The published Grocery Store accuracies, from the datasets README's sentence on them. */
function publishedAccuracy(): { fine: number; coarse: number } | null {
  if (!existsSync(DATASETS_README)) return null;
  const match = /about (\d+(?:\.\d+)?)% fine-grained and (\d+(?:\.\d+)?)% coarse/.exec(readFileSync(DATASETS_README, 'utf8').replace(/\s+/g, ' '));
  return match ? { fine: Number(match[1]) / 100, coarse: Number(match[2]) / 100 } : null;
}

export async function runImageBench(options: { images: string; extractors?: FeatureExtractor[]; hp?: Record<string, unknown>; progress?: (line: string) => void }): Promise<ImageBenchResult> {
  const datasetDir = existsSync(path.join(options.images, 'dataset')) ? path.join(options.images, 'dataset') : options.images;
  const extractors = options.extractors ?? [availableExtractor()];
  const progress = options.progress ?? (() => undefined);
  const backend = await selectBackend();
  const loadAverage = os.loadavg()[0];
  const classes = readClasses(datasetDir);
  const splits = { train: readSplit(datasetDir, 'train'), validation: readSplit(datasetDir, 'val'), test: readSplit(datasetDir, 'test') };
  const rejected: Record<string, number> = {};
  const models: ImageModelResult[] = [];
  let counts = { train: 0, validation: 0, test: 0 };
  let majority: ImageBenchResult['majority'] = { top1Fine: 0, top1Coarse: 0, top5Fine: 0, top5Coarse: 0 };
  for (const extractor of extractors) {
    const hp = ImageHyperparameters.parse({ ...options.hp, extractor });
    const backbone = extractor === BACKBONE_ARCHITECTURE ? sharedBackbone() : undefined;
    const size = ImageClassifier.configFor(hp, classes.fine, classes.coarse, backbone).inputSize;
    progress(`${extractor}: decoding at ${size}x${size}`);
    const decoded = { train: await decodeSplit(splits.train, size, classes), validation: await decodeSplit(splits.validation, size, classes), test: await decodeSplit(splits.test, size, classes) };
    if (models.length === 0) {
      for (const { rejected: r } of Object.values(decoded)) for (const [reason, n] of Object.entries(r)) rejected[reason] = (rejected[reason] ?? 0) + n;
      counts = { train: decoded.train.data.images.length, validation: decoded.validation.data.images.length, test: decoded.test.data.images.length };
      const [train, test] = [decoded.train.data, decoded.test.data];
      majority = { top1Fine: majorityAccuracy(train.fine, test.fine, 1), top1Coarse: majorityAccuracy(train.coarse, test.coarse, 1), top5Fine: majorityAccuracy(train.fine, test.fine, 5), top5Coarse: majorityAccuracy(train.coarse, test.coarse, 5) };
    }
    let lastReport = 0;
    const result = await trainImageClassifier({
      hyperparameters: hp,
      fineClasses: classes.fine,
      coarseClasses: classes.coarse,
      train: decoded.train.data,
      validation: decoded.validation.data,
      backbone,
      onFeatures: (done, total) => {
        if (Date.now() - lastReport > 15_000 || done === total) progress(`${extractor}: features ${done}/${total}`), (lastReport = Date.now());
      },
      onEpoch: (r) => progress(`${extractor}: epoch ${r.epoch} loss ${r.loss.toFixed(4)} validation fine top-1 ${(r.validation * 100).toFixed(1)}% (${r.seconds.toFixed(1)} s)`),
    });
    const test = decoded.test.data;
    const scores = result.classifier.scaledLogits(test.images);
    const fineCount = classes.fine.length;
    const coarseCount = classes.coarse.length;
    models.push({
      extractor,
      label: EXTRACTOR_LABELS[extractor],
      top1Fine: topKAccuracy(scores.fine, test.fine, fineCount, 1),
      top1Coarse: topKAccuracy(scores.coarse, test.coarse, coarseCount, 1),
      top5Fine: topKAccuracy(scores.fine, test.fine, fineCount, 5),
      top5Coarse: topKAccuracy(scores.coarse, test.coarse, coarseCount, 5),
      trainSeconds: result.trainSeconds,
      featureSeconds: result.featureSeconds,
      epochs: result.history.length,
      bestEpoch: result.bestEpoch,
      validationTop1Fine: result.history[result.bestEpoch - 1]?.validation ?? 0,
    });
    result.classifier.dispose();
  }
  return { dataset: path.basename(path.resolve(options.images)), counts, rejected, models, majority, published: publishedAccuracy(), backend: backend.name, loadAverage };
}

export function formatImageBench(result: ImageBenchResult): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const rejected = Object.entries(result.rejected).map(([reason, n]) => `${n} ${reason}`).join(', ') || 'none';
  return [
    `${result.dataset}: ${result.counts.train} train / ${result.counts.validation} validation / ${result.counts.test} test images (official split); rejected: ${rejected}; backend ${result.backend}; 1-min load ${result.loadAverage.toFixed(1)}`,
    formatTable(
      ['model', 'source', 'fine top-1', 'coarse top-1', 'fine top-5', 'coarse top-5', 'train s', 'epochs (best)'],
      [
        ...result.models.map((m) => [m.label, 'storeloop', pct(m.top1Fine), pct(m.top1Coarse), pct(m.top5Fine), pct(m.top5Coarse), m.trainSeconds.toFixed(0), `${m.epochs} (${m.bestEpoch})`]),
        ['majority class of train', 'storeloop', pct(result.majority.top1Fine), pct(result.majority.top1Coarse), pct(result.majority.top5Fine), pct(result.majority.top5Coarse), '', ''],
        ...(result.published ? [['ImageNet-pretrained CNNs (Klasson et al., 2019)', 'published', `~${pct(result.published.fine)}`, `~${pct(result.published.coarse)}`, '', '', '', '']] : []),
      ],
    ),
  ].join('\n');
}

/** The `--json` line: the first model's numbers under the names, every model under `models`. */
export function imageBenchJson(result: ImageBenchResult): Record<string, unknown> {
  const first = result.models[0];
  return {
    dataset: result.dataset,
    imageTop1Fine: first.top1Fine,
    imageTop1Coarse: first.top1Coarse,
    imageTop5Fine: first.top5Fine,
    imageTop5Coarse: first.top5Coarse,
    trainSeconds: first.trainSeconds,
    backbone: first.extractor === BACKBONE_ARCHITECTURE ? `${BACKBONE_ARCHITECTURE} (ImageNet-1k, frozen)` : 'none (small CNN from scratch)',
    majorityTop1Fine: result.majority.top1Fine,
    majorityTop1Coarse: result.majority.top1Coarse,
    models: result.models,
    rejected: result.rejected,
    counts: result.counts,
    backend: result.backend,
    loadAverage: result.loadAverage,
  };
}
