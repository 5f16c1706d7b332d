/**
 * The learning loop's activities: hyperparameter choice, online feedback, the run history,
 * the hyperparameter search's planning, scoring and storage, and the run report. All run on
 * the pipeline (CPU) queue; the search's trials train through the training queue's `train`.
 */
import { step } from './step';
import { measureFeedback } from './feedback';
import { chooseHyperparameters, planSearchCandidates, recordRun, scoreTrial, storeSearchWinner, type RunRecord } from './optimize';
import { writeRunReport } from './run-report';
import { kindOf } from './model-kinds/registry';
import type { Logger } from 'pino';
import type { ObjectStore } from './storage/object-store';
import type { ArtifactRef } from '../schemas/artifacts';
import type { PreprocessResult, SearchResult, StepContext, TrainResult } from '../schemas/steps';
import type { LifecycleSummary } from '../schemas/summary';

export function createLearningLoopActivities({ store, log }: { store: ObjectStore; log: Logger }) {
  return {
    feedback: (ctx: StepContext, prepared: PreprocessResult) => step('feedback', ctx, log, () => measureFeedback(store, log, kindOf(ctx.config.kind), ctx, prepared)),
    chooseHyperparameters: (ctx: StepContext, inputSetsHyperparameters: boolean) =>
      step('chooseHyperparameters', ctx, log, () => chooseHyperparameters(store, kindOf(ctx.config.kind), ctx, inputSetsHyperparameters)),
    recordRun: (ctx: StepContext, record: RunRecord) => step('recordRun', ctx, log, () => recordRun(store, ctx, record)),
    planSearch: (ctx: StepContext) => step('planSearch', ctx, log, async () => planSearchCandidates(kindOf(ctx.config.kind), ctx)),
    scoreTrial: async (ctx: StepContext, trained: TrainResult) => scoreTrial(store, kindOf(ctx.config.kind), trained),
    storeSearchWinner: (ctx: StepContext, result: SearchResult) => step('storeSearchWinner', ctx, log, () => storeSearchWinner(store, ctx, result)),
    writeRunReport: (ctx: StepContext, summary: Omit<LifecycleSummary, 'runReport'>, model: ArtifactRef) =>
      step('writeRunReport', ctx, log, () => writeRunReport(store, kindOf(ctx.config.kind), ctx, summary, model)),
  };
}
