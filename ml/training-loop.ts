/**
 * The epoch loop every model family shares (ml/sequence/train.ts, ml/tabular/fraud-mlp.ts):
 * optimizer steps with cancellation and checkpoints between them, a validation score per
 * epoch, the epoch report, the best epoch's weights kept aside, early stopping after
 * `patience` epochs without a better score, and the best weights restored at the end. A
 * family supplies one step (its batch and loss), its validation score and, if it wants, what
 * changes when an epoch starts (a new batch order). The loop is deterministic given the
 * family's: it draws no random numbers itself.
 */
import * as tf from '@tensorflow/tfjs';
import { checkpointTensors } from './training-hooks';
import type { FlatAdam } from './adam';
import type { StatefulRng, RngState } from './random';
import type { CheckpointPolicy, EpochReport, TrainingHooks, TrainingOutcome } from './training-hooks';

/** What a checkpoint keeps of the loop itself; a family's state adds its own fields. */
export interface LoopState {
  /** Epoch in progress (1-based) and how many of its batches are done. */
  epoch: number;
  position: number;
  /** Optimizer steps taken. */
  step: number;
  /** Sum of the training loss over the epoch's steps. */
  lossSum: number;
  epochSteps: number;
  epochSamples: number;
  epochSeconds: number;
  samplesSeen: number;
  stepSeconds: number;
  history: EpochReport[];
  /** The best validation score so far (higher is better; null before the first epoch) and its epoch. */
  bestValidation: number | null;
  bestEpoch: number;
  rng: RngState;
}

export function freshLoopState(rng: StatefulRng): LoopState {
  return { epoch: 1, position: 0, step: 0, lossSum: 0, epochSteps: 0, epochSamples: 0, epochSeconds: 0, samplesSeen: 0, stepSeconds: 0, history: [], bestValidation: null, bestEpoch: 0, rng: rng.state() };
}

export interface EpochLoop<State extends LoopState> extends TrainingHooks<State> {
  /** Fresh, or restored from a checkpoint (then `restoredBest` holds its best weights, which stay the caller's). */
  state: State;
  restoredBest?: tf.NamedTensorMap;
  epochs: number;
  patience: number;
  variables: ReadonlyMap<string, tf.Variable>;
  optimizer: FlatAdam;
  /** The family's random stream, saved with every checkpoint. */
  rng: StatefulRng;
  batchesPerEpoch: number;
  /** One optimizer step on batch `position` of the current epoch: its loss (which the loop disposes) and the examples it trained on. */
  step(position: number): { loss: tf.Scalar; samples: number };
  /**
   * The epoch's validation score, higher is better. Without one (a refit on all the data for
   * an epoch count chosen earlier) the loop runs every epoch, reports NaN and keeps the last weights.
   */
  validate?(): Promise<number>;
  /** Prepares the state for the epoch after `state.epoch` (e.g. a new batch order). */
  nextEpoch?(state: State): void;
  /** Stop after this many optimizer steps (benchmarks); validation still runs once at the end. */
  maxSteps?: number;
}

/** How a finished loop went, for its TrainResult: `startedMs` is when training began. */
export function loopOutcome(state: LoopState, startedMs: number): TrainingOutcome & { steps: number } {
  return {
    history: state.history,
    bestEpoch: state.bestEpoch,
    trainSeconds: (Date.now() - startedMs) / 1000,
    samples: state.samplesSeen,
    steps: state.step,
    stepSeconds: state.stepSeconds,
  };
}

/** Runs epochs until `epochs`, early stopping or `maxSteps`, and leaves the best epoch's weights in `variables` (the last one's without `validate`). */
export async function runEpochs<State extends LoopState>(loop: EpochLoop<State>): Promise<void> {
  const { state, variables, optimizer } = loop;
  let bestWeights = loop.restoredBest && Object.keys(loop.restoredBest).length > 0 ? tf.tidy(() => Object.fromEntries(Object.entries(loop.restoredBest!).map(([n, t]) => [n, tf.clone(t)]))) : undefined;
  const clock = new CheckpointClock(loop.checkpoints, state.step);
  const checkpoint = async () => {
    state.rng = loop.rng.state();
    await loop.checkpoints!.save({ state: structuredClone(state), tensors: checkpointTensors(variables, optimizer.getWeights(), bestWeights) }, state.step);
    clock.saved(state.step);
  };
  const stepsExhausted = () => loop.maxSteps !== undefined && state.step >= loop.maxSteps;

  try {
    while (state.epoch <= loop.epochs) {
      let segmentStart = Date.now();
      for (; state.position < loop.batchesPerEpoch; state.position++) {
        if (loop.shouldStop?.()) throw new Error('training cancelled');
        if (stepsExhausted()) break;
        const { loss, samples } = loop.step(state.position);
        const value = (await loss.data())[0];
        loss.dispose();
        if (!Number.isFinite(value)) throw new Error(`loss became ${value} at epoch ${state.epoch}, step ${state.position + 1}`);
        state.lossSum += value;
        state.step++;
        state.epochSteps++;
        state.epochSamples += samples;
        loop.onStep?.(state.epoch, state.position + 1, loop.batchesPerEpoch, value);
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
      const validation = loop.validate ? await loop.validate() : Number.NaN;
      const memory = tf.memory();
      const report: EpochReport = {
        epoch: state.epoch,
        epochs: loop.epochs,
        loss: state.lossSum / Math.max(1, state.epochSteps),
        validation,
        seconds: state.epochSeconds + (Date.now() - validationStart) / 1000,
        samplesPerSecond: state.epochSamples / state.epochSeconds,
        tensors: memory.numTensors,
        bytes: memory.numBytes,
      };
      state.history.push(report);
      await loop.onEpoch?.(report);
      state.samplesSeen += state.epochSamples;
      state.stepSeconds += state.epochSeconds;
      let stop = stepsExhausted();
      if (!loop.validate) {
        // Nothing to select on: the last epoch's weights are the model.
      } else if (state.bestValidation === null || validation > state.bestValidation) {
        if (bestWeights) tf.dispose(Object.values(bestWeights));
        bestWeights = cloneVariables(variables);
        state.bestValidation = validation;
        state.bestEpoch = state.epoch;
      } else if (state.epoch - state.bestEpoch >= loop.patience) {
        stop = true;
      }
      if (stop) break;
      Object.assign(state, { epoch: state.epoch + 1, position: 0, lossSum: 0, epochSteps: 0, epochSamples: 0, epochSeconds: 0 });
      loop.nextEpoch?.(state);
    }
    // Continue with the best epoch's weights, not the last (early stopping).
    if (bestWeights) for (const [name, variable] of variables) variable.assign(bestWeights[name]);
  } finally {
    if (bestWeights) tf.dispose(Object.values(bestWeights));
  }
}

/** Copies of a model's variables: the best-so-far weights. */
function cloneVariables(variables: ReadonlyMap<string, tf.Variable>): tf.NamedTensorMap {
  return Object.fromEntries([...variables].map(([name, v]) => [name, tf.clone(v)]));
}

/** When the next checkpoint is due: every `everySteps` optimizer steps or `everySeconds`, whichever comes first. */
class CheckpointClock {
  private last: { step: number; at: number };

  constructor(
    private readonly policy: CheckpointPolicy<never> | undefined,
    step: number,
  ) {
    this.last = { step, at: Date.now() };
  }

  due(step: number): boolean {
    const { policy } = this;
    return policy !== undefined && (step - this.last.step >= policy.everySteps || Date.now() - this.last.at >= policy.everySeconds * 1000);
  }

  saved(step: number): void {
    this.last = { step, at: Date.now() };
  }
}
