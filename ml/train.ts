/**
 * The training loop for the next-item models (SASRec, GRU): length-bucketed mini-batches (short
 * sequences are not padded to the longest), Adam, early stopping on validation NDCG@10
 * computed with the same full-ranking code as the final evaluation. Deterministic for a
 * seed on a given backend. Every step runs inside tf.tidy; `tf.memory()` is reported per
 * epoch so a leak shows up in the run report.
 */
import * as tf from '@tensorflow/tfjs';
import { seededRng, shuffled } from './random';
import { evaluateRanking, type RankingCase } from './ranking';
import { leftPad, type NextItemModel } from './next-item-model';
import { createNextItemModel } from './models';
import type { RecommenderHyperparameters } from '../schemas/lifecycle-input';

export interface EpochReport {
  epoch: number;
  epochs: number;
  loss: number;
  validationNdcg10: number;
  seconds: number;
  samplesPerSecond: number;
  tensors: number;
  bytes: number;
}

export interface TrainResult {
  model: NextItemModel;
  history: EpochReport[];
  bestEpoch: number;
  trainSeconds: number;
  /** Training positions (next-item targets) processed, and optimizer steps taken. */
  samples: number;
  steps: number;
  /** Time spent in optimizer steps only (trainSeconds also counts validation). */
  stepSeconds: number;
}

export interface TrainOptions {
  hyperparameters: RecommenderHyperparameters;
  numItems: number;
  /** Per user: the chronological items available for training (validation/test removed). */
  sequences: Int32Array[];
  validation: RankingCase[];
  onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  onEpoch?: (report: EpochReport) => void | Promise<void>;
  /** Checked between steps; true stops training (cancellation). */
  shouldStop?: () => boolean;
  /** Stop after this many optimizer steps (benchmarks); validation still runs once at the end. */
  maxSteps?: number;
}

interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  rows: number;
  length: number;
  positions: number;
}

/** Batches of (input, next-item target) windows, grouped by length to limit padding. */
export function makeBatches(sequences: Int32Array[], maxLen: number, batchSize: number): Batch[] {
  const usable = sequences.filter((s) => s.length >= 2).sort((a, b) => a.length - b.length);
  const batches: Batch[] = [];
  for (let start = 0; start < usable.length; start += batchSize) {
    const group = usable.slice(start, start + batchSize);
    const length = Math.min(maxLen, Math.max(...group.map((s) => s.length - 1)));
    const inputs = leftPad(group.map((s) => s.subarray(0, s.length - 1)), length);
    const targets = leftPad(group.map((s) => s.subarray(1)), length);
    const positions = targets.reduce((n, t) => n + (t > 0 ? 1 : 0), 0);
    batches.push({ inputs, targets, rows: group.length, length, positions });
  }
  return batches;
}

export function useSampledSoftmax(hp: RecommenderHyperparameters, numItems: number): boolean {
  return hp.softmax === 'sampled' || (hp.softmax === 'auto' && numItems > hp.fullSoftmaxMaxItems);
}

export async function trainNextItemModel(options: TrainOptions): Promise<TrainResult> {
  const { hyperparameters: hp, numItems } = options;
  const rng = seededRng(`${hp.model}-${hp.seed}`);
  const model = createNextItemModel({
    architecture: hp.model,
    numItems,
    maxLen: hp.maxLen,
    hiddenDim: hp.hiddenDim,
    blocks: hp.blocks,
    heads: hp.heads,
    dropout: hp.dropout,
    seed: hp.seed,
  });
  const optimizer = tf.train.adam(hp.learningRate);
  const sampled = useSampledSoftmax(hp, numItems);
  const batches = makeBatches(options.sequences, hp.maxLen, hp.batchSize);
  if (batches.length === 0) throw new Error('no user has two or more training items');

  const history: EpochReport[] = [];
  let best = { ndcg: -1, epoch: 0, weights: undefined as tf.NamedTensorMap | undefined };
  let step = 0;
  let samplesSeen = 0;
  let stepSeconds = 0;
  const started = Date.now();
  try {
    for (let epoch = 1; epoch <= hp.epochs; epoch++) {
      const epochStart = Date.now();
      const order = shuffled(batches.map((_, i) => i), rng);
      let lossSum = 0;
      let epochSteps = 0;
      let epochSamples = 0;
      for (const [i, index] of order.entries()) {
        if (options.shouldStop?.()) throw new Error('training cancelled');
        if (options.maxSteps !== undefined && step >= options.maxSteps) break;
        const batch = batches[index];
        const negatives = sampled
          ? Int32Array.from({ length: hp.sampledNegatives }, () => 1 + Math.floor(rng() * numItems))
          : undefined;
        const dropoutSeed = Math.floor(rng() * 2 ** 31);
        const loss = tf.tidy(() => {
          const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], 'int32');
          const targets = tf.tensor2d(batch.targets, [batch.rows, batch.length], 'int32');
          const negativeTensor = negatives && tf.tensor1d(negatives, 'int32');
          return optimizer.minimize(() => model.loss(inputs, targets, dropoutSeed, negativeTensor), true)!;
        });
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value)) throw new Error(`loss became ${value} at epoch ${epoch}, step ${i + 1}`);
        lossSum += value;
        step++;
        epochSteps++;
        epochSamples += batch.positions;
        options.onStep?.(epoch, i + 1, batches.length, value);
      }
      const trainingSeconds = (Date.now() - epochStart) / 1000;
      const validation = await evaluateRanking(options.validation, numItems + 1, (h) => model.scoreNext(h));
      const seconds = (Date.now() - epochStart) / 1000;
      const memory = tf.memory();
      const report: EpochReport = {
        epoch,
        epochs: hp.epochs,
        loss: lossSum / Math.max(1, epochSteps),
        validationNdcg10: validation['ndcg@10'],
        seconds,
        samplesPerSecond: epochSamples / trainingSeconds,
        tensors: memory.numTensors,
        bytes: memory.numBytes,
      };
      history.push(report);
      await options.onEpoch?.(report);
      samplesSeen += epochSamples;
      stepSeconds += trainingSeconds;
      if (report.validationNdcg10 > best.ndcg) {
        if (best.weights) tf.dispose(Object.values(best.weights));
        best = { ndcg: report.validationNdcg10, epoch, weights: cloneWeights(model) };
      } else if (epoch - best.epoch >= hp.patience) {
        break;
      }
      if (options.maxSteps !== undefined && step >= options.maxSteps) break;
    }
  } finally {
    optimizer.dispose();
  }
  // Continue with the best epoch's weights, not the last (early stopping).
  if (best.weights) {
    for (const [name, variable] of model.variables) variable.assign(best.weights[name]);
    tf.dispose(Object.values(best.weights));
  }
  return { model, history, bestEpoch: best.epoch, trainSeconds: (Date.now() - started) / 1000, samples: samplesSeen, steps: step, stepSeconds };
}

function cloneWeights(model: NextItemModel): tf.NamedTensorMap {
  return Object.fromEntries([...model.variables].map(([name, v]) => [name, tf.clone(v)]));
}
