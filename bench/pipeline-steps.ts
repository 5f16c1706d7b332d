/**
 * The pipeline's own steps on one dataset, run in process as the benches need them:
 * hyperparameters as a lifecycle chooses them, then collect, preprocess, train and evaluate
 * through the same activities the workers run (outside Temporal, against the stack's S3).
 */
import os from 'node:os';
import { createActivities } from '../activities';
import { parseLifecycleInput, type LifecycleInputFields } from '../schemas/lifecycle-input';
import type { ObjectStore } from '../activities/storage/object-store';
import type { Logger } from '../infra/logger';
import type { EvaluateResult, PreprocessResult, StepContext, TrainResult } from '../schemas/steps';

export interface MeasuredSteps {
  prepared: PreprocessResult;
  trained: TrainResult;
  evaluation: EvaluateResult;
  /** evaluate fits the baseline too: its time is the step's, less scoring the candidate (small). */
  baselineSeconds: number;
  /** The 1-minute load when training started. */
  loadBefore: number;
}

export async function trainAndEvaluate(store: ObjectStore, log: Logger, bench: string, input: LifecycleInputFields & { kind: string; dataset: string }): Promise<MeasuredSteps> {
  const activities = createActivities({ store, log });
  const ctx: StepContext = { config: parseLifecycleInput({ ...input, hyperparameters: input.hyperparameters ?? {} }), workflowId: bench, runId: 'bench', startedAt: new Date().toISOString() };
  const loadBefore = os.loadavg()[0];
  // Given hyperparameters are taken as they are; without, the stored search winner or the defaults.
  ctx.config.hyperparameters = (await activities.chooseHyperparameters(ctx, input.hyperparameters !== undefined)).values;
  const collected = await activities.collect(ctx);
  const prepared = await activities.preprocess(ctx, collected);
  const started = Date.now();
  const trained = await activities.train(ctx, prepared);
  const evaluation = await activities.evaluate(ctx, prepared, trained);
  return { prepared, trained, evaluation, baselineSeconds: (Date.now() - started) / 1000 - trained.trainSeconds, loadBefore };
}
