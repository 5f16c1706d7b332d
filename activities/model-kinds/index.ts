/**
 * Model kinds are plug-ins: each says how it preprocesses, trains and evaluates. Adding
 * risk scoring or demand forecasting means adding an entry here (and its kind to
 * MODEL_KINDS); the workflow and the generic steps stay as they are.
 */
import { evaluateNextItem, preprocessNextItem, trainNextItem, type NextItemDeps } from './next-item';
import type { ModelKind } from '../../schemas/lifecycle-input';
import type { ArtifactRef } from '../../schemas/artifacts';
import type { EvaluateResult, PreprocessResult, StepContext, TrainResult } from '../../schemas/steps';

export interface ModelKindPlugin {
  preprocess(deps: NextItemDeps, ctx: StepContext, snapshot: ArtifactRef): Promise<PreprocessResult>;
  train(deps: NextItemDeps, ctx: StepContext, prepared: PreprocessResult): Promise<TrainResult>;
  evaluate(deps: NextItemDeps, ctx: StepContext, prepared: PreprocessResult, trained: TrainResult): Promise<EvaluateResult>;
}

export const MODEL_KIND_PLUGINS: Record<ModelKind, ModelKindPlugin> = {
  'next-item': { preprocess: preprocessNextItem, train: trainNextItem, evaluate: evaluateNextItem },
};
