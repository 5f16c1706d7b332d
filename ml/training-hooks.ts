/**
 * What every model family's training loop shares with the host's training harness
 * (activities/training-harness.ts): named tensors for checkpoints and bundles, the
 * checkpoint policy, the per-epoch report, and the hooks through which the harness
 * heartbeats, checkpoints, resumes and cancels a loop without knowing the model.
 */
import * as tf from '@tensorflow/tfjs';

/** A named tensor, as tf.io.encodeWeights and optimizer.getWeights use them. */
export type NamedTensor = { name: string; tensor: tf.Tensor };

/** A loop's JSON state (epoch, batch order, RNG, best so far) and its tensors (weights, optimizer, best weights). */
export interface Checkpoint<State = unknown> {
  state: State;
  tensors: NamedTensor[];
}

export interface CheckpointPolicy<State = unknown> {
  everySteps: number;
  everySeconds: number;
  /** `step`: optimizer steps taken so far; checkpoints are ordered by it. */
  save(checkpoint: Checkpoint<State>, step: number): Promise<void>;
}

/** One finished epoch. `validation` is the kind's validation metric (early stopping and the search rank by it). */
export interface EpochReport {
  epoch: number;
  epochs: number;
  loss: number;
  validation: number;
  seconds: number;
  /** Throughput and tf.memory() after the epoch, where the loop measures them (a leak shows in the report). */
  samplesPerSecond?: number;
  tensors?: number;
  bytes?: number;
}

export interface TrainingHooks<State = unknown> {
  onStep?: (epoch: number, step: number, steps: number, loss: number) => void;
  onEpoch?: (report: EpochReport) => void | Promise<void>;
  /** Checked between steps; true stops training (cancellation). */
  shouldStop?: () => boolean;
  /** Save a checkpoint this often; with `resumeFrom`, continue from one. */
  checkpoints?: CheckpointPolicy<State>;
  resumeFrom?: Checkpoint<State>;
}

/** What a finished loop hands back besides its model. */
export interface TrainingOutcome {
  history: EpochReport[];
  bestEpoch: number;
  trainSeconds: number;
  /** Training examples processed, and the time spent in optimizer steps only. */
  samples: number;
  stepSeconds: number;
}

/** A checkpoint's tensors, named `model/<variable>`, `optimizer/<index>/<name>` and `best/<variable>`. */
export function checkpointTensors(variables: ReadonlyMap<string, tf.Variable>, optimizerWeights: NamedTensor[], best: tf.NamedTensorMap | undefined): NamedTensor[] {
  return [
    ...[...variables].map(([name, tensor]) => ({ name: `model/${name}`, tensor })),
    ...optimizerWeights.map((w, i) => ({ name: `optimizer/${i}/${w.name}`, tensor: w.tensor })),
    ...Object.entries(best ?? {}).map(([name, tensor]) => ({ name: `best/${name}`, tensor })),
  ];
}

/** The inverse of checkpointTensors. */
export function splitCheckpointTensors(tensors: NamedTensor[]): { model: tf.NamedTensorMap; best: tf.NamedTensorMap; optimizer: NamedTensor[] } {
  const model: tf.NamedTensorMap = {};
  const best: tf.NamedTensorMap = {};
  const optimizer: NamedTensor[] = [];
  for (const { name, tensor } of tensors) {
    const [prefix, ...rest] = name.split('/');
    if (prefix === 'model') model[rest.join('/')] = tensor;
    else if (prefix === 'best') best[rest.join('/')] = tensor;
    else if (prefix === 'optimizer') optimizer[Number(rest[0])] = { name: rest.slice(1).join('/'), tensor };
    else throw new Error(`checkpoint tensor ${name} has an unknown prefix`);
  }
  return { model, best, optimizer };
}
