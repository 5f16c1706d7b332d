/**
 * The training loop for the next-item models (SASRec, GRU): length-bucketed mini-batches (short
 * sequences are not padded to the longest), Adam, early stopping on validation NDCG@10
 * computed with the same full-ranking code as the final evaluation. Deterministic for a
 * seed on a given backend. Every step runs inside tf.tidy; `tf.memory()` is reported per
 * epoch so a leak shows up in the run report.
 */
import * as tf from '@tensorflow/tfjs';
import { shuffled, statefulRng, type RngState } from '../random';
import { evaluateRanking, type RankingCase } from './ranking';
import { leftPad, type NextItemModel } from './next-item-model';
import { createNextItemModel } from './models';
import { FlatAdam } from '../adam';
import { checkpointTensors, CheckpointClock, cloneVariables, splitCheckpointTensors } from '../training-hooks';
import type { Checkpoint as GenericCheckpoint, EpochReport, TrainingHooks, TrainingOutcome } from '../training-hooks';
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

/** Everything besides tensors that training needs to continue exactly where it stopped. */
export interface TrainingState {
  /** Epoch in progress (1-based), its batch order, and how many of its batches are done. */
  epoch: number;
  order: number[];
  position: number;
  step: number;
  lossSum: number;
  epochSteps: number;
  epochSamples: number;
  epochSeconds: number;
  samplesSeen: number;
  stepSeconds: number;
  history: EpochReport[];
  bestNdcg: number;
  bestEpoch: number;
  rng: RngState;
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
  const state: TrainingState = resumeFrom?.state ?? {
    epoch: 1,
    order: shuffled(batches.map((_, i) => i), rng),
    position: 0,
    step: 0,
    lossSum: 0,
    epochSteps: 0,
    epochSamples: 0,
    epochSeconds: 0,
    samplesSeen: 0,
    stepSeconds: 0,
    history: [],
    bestNdcg: -1,
    bestEpoch: 0,
    rng: rng.state(),
  };
  let bestWeights: tf.NamedTensorMap | undefined = restored && Object.keys(restored.best).length > 0 ? restored.best : undefined;
  const started = Date.now();
  const clock = new CheckpointClock(options.checkpoints, state.step);

  const checkpoint = async () => {
    state.rng = rng.state();
    const tensors = checkpointTensors(model.variables, optimizer.getWeights(), bestWeights);
    await options.checkpoints!.save({ state: structuredClone(state), tensors }, state.step);
    clock.saved(state.step);
  };

  try {
    while (state.epoch <= hp.epochs) {
      let segmentStart = Date.now();
      for (; state.position < state.order.length; state.position++) {
        if (options.shouldStop?.()) throw new Error('training cancelled');
        if (options.maxSteps !== undefined && state.step >= options.maxSteps) break;
        const batch = batches[state.order[state.position]];
        const negatives = sampled
          ? Int32Array.from({ length: hp.sampledNegatives }, () => 1 + Math.floor(rng() * numItems))
          : undefined;
        const dropoutSeed = Math.floor(rng() * 2 ** 31);
        const loss = tf.tidy(() => {
          const inputs = tf.tensor2d(batch.inputs, [batch.rows, batch.length], 'int32');
          const positions = tf.tensor1d(batch.targetIndices, 'int32');
          const targets = tf.tensor1d(batch.targetItems, 'int32');
          const negativeTensor = negatives && tf.tensor1d(negatives, 'int32');
          return optimizer.minimize(() => model.loss(inputs, positions, targets, dropoutSeed, negativeTensor));
        });
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value)) throw new Error(`loss became ${value} at epoch ${state.epoch}, step ${state.position + 1}`);
        state.lossSum += value;
        state.step++;
        state.epochSteps++;
        state.epochSamples += batch.positions;
        options.onStep?.(state.epoch, state.position + 1, batches.length, value);
        if (clock.due(state.step)) {
          state.position++; // this batch is done: a resumed run starts after it
          state.epochSeconds += (Date.now() - segmentStart) / 1000;
          await checkpoint();
          segmentStart = Date.now();
          state.position--;
        }
      }
      state.epochSeconds += (Date.now() - segmentStart) / 1000;
      const validationStart = Date.now();
      const validation = await evaluateRanking(options.validation, numItems + 1, (h) => model.scoreNext(h));
      const memory = tf.memory();
      const report: EpochReport = {
        epoch: state.epoch,
        epochs: hp.epochs,
        loss: state.lossSum / Math.max(1, state.epochSteps),
        validation: validation['ndcg@10'],
        seconds: state.epochSeconds + (Date.now() - validationStart) / 1000,
        samplesPerSecond: state.epochSamples / state.epochSeconds,
        tensors: memory.numTensors,
        bytes: memory.numBytes,
      };
      state.history.push(report);
      await options.onEpoch?.(report);
      state.samplesSeen += state.epochSamples;
      state.stepSeconds += state.epochSeconds;
      let stop = options.maxSteps !== undefined && state.step >= options.maxSteps;
      if (report.validation > state.bestNdcg) {
        if (bestWeights) tf.dispose(Object.values(bestWeights));
        bestWeights = cloneVariables(model.variables);
        state.bestNdcg = report.validation;
        state.bestEpoch = state.epoch;
      } else if (state.epoch - state.bestEpoch >= hp.patience) {
        stop = true;
      }
      if (stop) break;
      Object.assign(state, { epoch: state.epoch + 1, order: shuffled(batches.map((_, i) => i), rng), position: 0, lossSum: 0, epochSteps: 0, epochSamples: 0, epochSeconds: 0 });
    }
  } finally {
    optimizer.dispose();
    if (restored) tf.dispose(restored.optimizer.map((w) => w.tensor));
  }
  // Continue with the best epoch's weights, not the last (early stopping).
  if (bestWeights) {
    for (const [name, variable] of model.variables) variable.assign(bestWeights[name]);
    tf.dispose(Object.values(bestWeights));
  }
  return {
    model,
    history: state.history,
    bestEpoch: state.bestEpoch,
    trainSeconds: (Date.now() - started) / 1000,
    samples: state.samplesSeen,
    steps: state.step,
    stepSeconds: state.stepSeconds,
    resumedFromStep: resumeFrom?.state.step ?? null,
  };
}

