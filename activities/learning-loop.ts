/**
 * The learning loop's activities: online feedback, the run history, the hyperparameter
 * search's planning, scoring and storage, and the run report. All run on the pipeline
 * (CPU) queue; the search's trials train through the training queue's `train`.
 */
import { step, type ActivityDeps } from '.';
import { measureFeedback } from './feedback';
import { chooseHyperparameters, planSearchCandidates, recordRun, scoreTrial, storeSearchWinner, type RunRecord } from './optimize';
import { writeRunReport } from './run-report';
import type { ArtifactRef } from '../schemas/artifacts';
import type { PreprocessResult, SearchResult, StepContext, TrainResult } from '../schemas/steps';
import type { LifecycleSummary } from '../workflows/lifecycle';

export function createLearningLoopActivities({ store, log }: ActivityDeps) {
  return {
    feedback: (ctx: StepContext, prepared: PreprocessResult) => step('feedback', ctx, log, () => measureFeedback(store, ctx, prepared)),
    chooseHyperparameters: (ctx: StepContext, inputSetsHyperparameters: boolean) =>
      step('chooseHyperparameters', ctx, log, () => chooseHyperparameters(store, ctx, inputSetsHyperparameters)),
    recordRun: (ctx: StepContext, record: RunRecord) => step('recordRun', ctx, log, () => recordRun(store, ctx, record)),
    planSearch: (ctx: StepContext) => step('planSearch', ctx, log, async () => planSearchCandidates(ctx)),
    scoreTrial: async (trained: TrainResult) => scoreTrial(store, trained),
    storeSearchWinner: (ctx: StepContext, result: SearchResult) => step('storeSearchWinner', ctx, log, () => storeSearchWinner(store, ctx, result)),
    writeRunReport: (ctx: StepContext, summary: Omit<LifecycleSummary, 'runReport'>, model: ArtifactRef) =>
      step('writeRunReport', ctx, log, () => writeRunReport(store, ctx, summary, model)),
  };
}
