/**
 * The training loop for the next-item models (SASRec, GRU): length-bucketed mini-batches (short
 * sequences are not padded to the longest), Adam, early stopping on validation NDCG@10
 * computed with the same full-ranking code as the final evaluation. Deterministic for a
 * seed on a given backend. Every step runs inside tf.tidy; `tf.memory()` is reported per
 * epoch so a leak shows up in the run report.
 */
import * as tf from '@tensorflow/tfjs';
import { shuffled, statefulRng } from '../random';
import { evaluateRanking, type RankingCase } from './ranking';
import { leftPad, type NextItemModel } from './next-item-model';
import { createNextItemModel } from './models';
import { FlatAdam } from '../adam';
import { splitCheckpointTensors } from '../training-hooks';
import { freshLoopState, loopOutcome, runEpochs, type LoopState } from '../training-loop';
import type { Checkpoint as GenericCheckpoint, TrainingHooks, TrainingOutcome } from '../training-hooks';
import type { RecommenderHyperparameters } from './hyperparameters';

export interface TrainResult extends TrainingOutcome {
  model: NextItemModel;
  /** Optimizer steps taken. */
  steps: number;
}

/** The next-item loop reports validation NDCG@10 as its epochs' `validation`. */
export interface TrainOptions extends TrainingHooks<TrainingState> {
  hyperparameters: RecommenderHyperparameters;
  numItems: number;
  /** Per user: the chronological items available for training (validation/test removed). */
  sequences: Int32Array[];
  validation: RankingCase[];
  /** Stop after this many optimizer steps (benchmarks); validation still runs once at the end. */
  maxSteps?: number;
}

interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  rows: number;
  length: number;
  positions: number;
  /** The non-padding targets: their indices in the flattened batch, and their items. */
  targetIndices: Int32Array;
  targetItems: Int32Array;
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
    const targetIndices = Int32Array.from(targets.keys()).filter((i) => targets[i] > 0);
    const targetItems = targetIndices.map((i) => targets[i]);
    batches.push({ inputs, targets, rows: group.length, length, positions: targetIndices.length, targetIndices, targetItems });
  }
  return batches;
}

export function useSampledSoftmax(hp: RecommenderHyperparameters, numItems: number): boolean {
  return hp.softmax === 'sampled' || (hp.softmax === 'auto' && numItems > hp.fullSoftmaxMaxItems);
}

/**
 * Bytes of tensor memory one training step needs, at most, before anything is allocated:
 * the weights with their gradients and two Adam moments, each block's activations kept
 * for the backward pass (and its attention maps), and
 * the output layer's logits, probabilities and their gradient over every item (full
 * softmax) or over the sampled ones. An upper bound, checked against tf.profile's peak in
 * the unit tests; the harness refuses configurations that cannot fit the worker.
 */
export function trainingMemoryBytes(hp: RecommenderHyperparameters, numItems: number): number {
  const vocabulary = numItems + 1;
  const { hiddenDim: width, maxLen: length, batchSize: batch, blocks, heads } = hp;
  const parameters = vocabulary * width + length * width + blocks * (6 * width * width + 12 * width);
  // The gradient tape keeps every intermediate of a block alive until the backward pass:
  // about 100 tensors of batch x length x width (measured with tf.profile), rounded up.
  const perBlock = 128 * batch * length * width + (hp.model === 'sasrec' ? 8 * heads * batch * length * length : 0);
  const classes = useSampledSoftmax(hp, numItems) ? hp.sampledNegatives + 1 : vocabulary;
  const output = 3 * batch * length * classes;
  return 4 * (4 * parameters + blocks * perBlock + output);
}

/** Everything besides tensors that training needs to continue exactly where it stopped. */
export interface TrainingState extends LoopState {
  /** The epoch's batch order. */
  order: number[];
}

/** Tensors are named `model/<variable>`, `optimizer/<index>/<name>` and `best/<variable>`. */
export type Checkpoint = GenericCheckpoint<TrainingState>;

export async function trainNextItemModel(options: TrainOptions): Promise<TrainResult> {
  const { hyperparameters: hp, numItems, resumeFrom } = options;
  const restored = resumeFrom && splitCheckpointTensors(resumeFrom.tensors);
  const model = createNextItemModel(
    {
      architecture: hp.model,
      numItems,
      maxLen: hp.maxLen,
      hiddenDim: hp.hiddenDim,
      blocks: hp.blocks,
      heads: hp.heads,
      dropout: hp.dropout,
      seed: hp.seed,
    },
    restored?.model,
  );
  const optimizer = new FlatAdam([...model.variables.values()], { learningRate: hp.learningRate });
  if (restored) optimizer.setWeights(restored.optimizer);
  const sampled = useSampledSoftmax(hp, numItems);
  const batches = makeBatches(options.sequences, hp.maxLen, hp.batchSize);
  if (batches.length === 0) throw new Error('no user has two or more training items');

  const rng = statefulRng(`${hp.model}-${hp.seed}`, resumeFrom?.state.rng);
  const batchOrder = () => shuffled(batches.map((_, i) => i), rng);
  const state: TrainingState = resumeFrom?.state ?? { ...freshLoopState(rng), order: batchOrder() };
  const started = Date.now();

  try {
    await runEpochs({
      ...options,
      state,
      restoredBest: restored?.best,
      epochs: hp.epochs,
      patience: hp.patience,
      variables: model.variables,
      optimizer,
      rng,
      batchesPerEpoch: batches.length,
      step(position) {
        const batch = batches[state.order[position]];
        const negatives = sampled ? Int32Array.from({ length: hp.sampledNegatives }, () => 1 + Math.floor(rng() * numItems)) : undefined;
        const dropoutSeed = Math.floor(rng() * 2 ** 31);
        const loss = tf.tidy(() => {
          const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], 'int32');
          const positions = tf.tensor1d(batch.targetIndices, 'int32');
          const targets = tf.tensor1d(batch.targetItems, 'int32');
          const negativeTensor = negatives && tf.tensor1d(negatives, 'int32');
          return optimizer.minimize(() => model.loss(inputs, positions, targets, dropoutSeed, negativeTensor));
        });
        return { loss, samples: batch.positions };
      },
      validate: async () => (await evaluateRanking(options.validation, numItems + 1, (h) => model.scoreNext(h)))['ndcg@10'],
      nextEpoch: (next) => (next.order = batchOrder()),
    });
  } finally {
    optimizer.dispose();
    if (restored) tf.dispose(restored.optimizer.map((w) => w.tensor));
  }
  return {
    model,
    ...loopOutcome(state, started),
  };
}

