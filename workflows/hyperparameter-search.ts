/**
 * Hyperparameter search by successive halving, as child workflows of a lifecycle run:
 * every candidate trains for `minEpochs` (one `hyperparameterTrial` child each, on the
 * training task queue), the best 1/`eta` train again for `eta` times as many epochs, and
 * so on up to `maxEpochs` or a single survivor. The whole search is bounded by
 * `maxMinutes`: trials still running then are cancelled and the search keeps what
 * finished. Trials are ranked by the kind's validation metric in its direction. Like any workflow it resumes after a worker restart; trials that already
 * trained come back from the train step's cache.
 */
import {
  ActivityFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  executeChild,
  isCancellation,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Hyperparameters, PreprocessResult, SearchCandidate, SearchResult, StepContext, TrialResult } from '../schemas/steps';
import { ACTIVITY_RETRY } from './retry';
import { onTrainingPool, trainingPoolActivities } from './training-pool';

export interface SearchInput {
  ctx: StepContext;
  prepared: PreprocessResult;
}

export interface TrialInput {
  ctx: StepContext;
  prepared: PreprocessResult;
  candidate: SearchCandidate;
  rung: number;
  epochs: number;
}

const pipeline = proxyActivities<Activities>({ startToCloseTimeout: '5m', retry: ACTIVITY_RETRY });

/** One configuration trained for a given number of epochs and scored on the validation split. */
export async function hyperparameterTrial({ ctx, prepared, candidate, rung, epochs }: TrialInput): Promise<TrialResult> {
  const { workflowId } = workflowInfo();
  // A trial is cheap to lose: one retry covers a lost worker without re-running a diverging configuration five times.
  // Cancelled at the search's time budget, a trial ends at once, as it always has; its worker stops at its next heartbeat.
  const training = trainingPoolActivities(ctx.config, { maximumAttempts: 2, tryCancel: true });
  const hyperparameters: Hyperparameters = { ...ctx.config.hyperparameters, ...candidate.params, epochs };
  // The trial's own id: its checkpoints and progress signals belong to it, not to the lifecycle.
  const trialCtx: StepContext = { ...ctx, workflowId, runId: workflowInfo().runId, config: { ...ctx.config, hyperparameters } };
  try {
    // Trials queue behind each other on a busy pool; the wait is only reported in the trial's failure.
    const trained = await onTrainingPool(ctx.config, () => training.train(trialCtx, prepared), () => undefined);
    const { validation, score } = await pipeline.scoreTrial(trialCtx, trained);
    return { candidate, rung, epochs, workflowId, validation, score, bestEpoch: trained.bestEpoch, trainSeconds: trained.trainSeconds, cached: trained.cached };
  } catch (error) {
    if (isCancellation(error)) throw error;
    // A configuration that cannot train (its loss diverged, say) loses the trial, not the search.
    const cause = error instanceof ActivityFailure && error.cause ? error.cause.message : (error as Error).message;
    return { candidate, rung, epochs, workflowId, validation: null, score: FAILED_TRIAL_SCORE, bestEpoch: 0, trainSeconds: 0, cached: false, error: cause };
  }
}

/** Below every real score (finite: payloads are JSON). */
const FAILED_TRIAL_SCORE = -Number.MAX_VALUE;

/** Best first: scores are oriented so that higher is better, whatever the kind's validation metric. */
const byScore = (a: TrialResult, b: TrialResult) => b.score - a.score || a.candidate.id.localeCompare(b.candidate.id);

export async function hyperparameterSearch({ ctx, prepared }: SearchInput): Promise<SearchResult> {
  const { workflowId, startTime } = workflowInfo();
  const search = ctx.config.optimize.search;
  const deadline = startTime.getTime() + search.maxMinutes * 60_000;
  const trials: TrialResult[] = [];
  let candidates = await pipeline.planSearch(ctx);
  // Trials never train longer than the run itself would.
  const maxEpochs = Math.min(search.maxEpochs, Number(ctx.config.hyperparameters.epochs));
  let epochs = Math.min(search.minEpochs, maxEpochs);
  let stoppedBy: SearchResult['stoppedBy'] = 'finished';
  let lastRung: TrialResult[] = [];

  for (let rung = 0; ; rung++) {
    const finished: TrialResult[] = [];
    const scope = new CancellationScope();
    const rungDone = scope.run(() =>
      Promise.all(
        candidates.map(async (candidate) => {
          const result = await executeChild(hyperparameterTrial, {
            workflowId: `${workflowId}-rung${rung}-${candidate.id}`,
            args: [{ ctx, prepared, candidate, rung, epochs }],
            // The search ends only once cancelled trials have ended: with TRY_CANCEL it could
            // finish first, and its close would terminate them instead.
            cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          });
          finished.push(result);
        }),
      ),
    );
    const budget = new CancellationScope();
    const budgetSpent = budget.run(() => sleep(Math.max(1, deadline - Date.now()))).then(() => true, () => false);
    const timedOut = await Promise.race([rungDone.then(() => false), budgetSpent]);
    budget.cancel(); // no timer outlives its rung
    if (timedOut) {
      scope.cancel();
      await rungDone.catch((error) => {
        if (!isCancellation(error)) throw error;
      });
    }
    trials.push(...finished);
    if (finished.length > 0) lastRung = finished;
    if (timedOut) {
      stoppedBy = 'time budget';
      break;
    }
    if (candidates.length <= 1 || epochs >= maxEpochs) break;
    const survivors = [...finished].sort(byScore).slice(0, Math.ceil(finished.length / search.eta));
    candidates = survivors.map((t) => t.candidate);
    epochs = Math.min(maxEpochs, epochs * search.eta);
  }

  const best = [...lastRung].sort(byScore)[0] ?? null;
  const result: SearchResult = {
    workflowId,
    trials,
    best,
    hyperparameters: best && { ...ctx.config.hyperparameters, ...best.candidate.params, epochs: Number(ctx.config.hyperparameters.epochs) },
    stoppedBy,
    stored: null,
  };
  result.stored = await pipeline.storeSearchWinner(ctx, result);
  return result;
}
