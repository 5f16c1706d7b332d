/**
 * The lifecycle's activities, built by a factory that receives their dependencies
 * (object store, logger, optional Temporal client), which keeps them testable and lets
 * each worker register exactly the ones its task queue serves.
 *
 * Model-specific work is delegated to the model kind's plug-in; errors that retrying
 * cannot fix (bad input files, lost promotion races) become non-retryable failures
 * with their name as the failure type.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { collectEvents, TooManyBadRowsError } from './collect/collect';
import { InvalidInputFileError } from './collect/raw-files';
import { deployModel, type DeployInput } from './deploy';
import { createLearningLoopActivities } from './learning-loop';
import { applyAliasChange, ChampionChangedError, NoPreviousChampionError, planRollback, readChampion, type ChampionAlias } from './registry/serving-registry';
import { MODEL_KIND_PLUGINS } from './model-kinds';
import { isCancelled } from './progress';
import { EmptyDatasetError, type NextItemDeps } from './model-kinds/next-item';
import { assertSafeKeySegment, type ObjectStore } from './storage/object-store';
import { TRAINING_PROGRESS_SIGNAL } from '../workflows/progress';
import type { CollectResult, EvaluateResult, PreprocessResult, StepContext, TrainResult } from '../schemas/steps';
import type { RollbackRequest } from '../schemas/operator-input';

export interface ActivityDeps {
  store: ObjectStore;
  log: Logger;
  /** Lets training report epochs to its workflow (shown by the `progress` query). */
  client?: Client;
}

const NON_RETRYABLE = [InvalidInputFileError, TooManyBadRowsError, ChampionChangedError, NoPreviousChampionError, EmptyDatasetError];

const isNonRetryable = (error: Error) => NON_RETRYABLE.some((type) => error instanceof type);

export async function step<T>(name: string, ctx: StepContext, log: Logger, work: () => Promise<T>): Promise<T> {
  assertSafeKeySegment(ctx.config.dataset, 'dataset');
  const started = Date.now();
  try {
    const result = await work();
    log.info({ step: name, workflowId: ctx.workflowId, ms: Date.now() - started }, 'step finished');
    return result;
  } catch (error) {
    const err = error as Error;
    if (isCancelled()) {
      // Reported as a cancellation, not a failure, so Temporal records the step as cancelled.
      log.warn({ step: name, workflowId: ctx.workflowId, ms: Date.now() - started }, 'step cancelled');
      throw new CancelledFailure(err.message);
    }
    if (isNonRetryable(err)) {
      log.error({ step: name, workflowId: ctx.workflowId, error: err.message }, 'step failed: not retryable');
      throw ApplicationFailure.nonRetryable(err.message, err.name);
    }
    log.warn({ step: name, workflowId: ctx.workflowId, error: err.message }, 'step failed; Temporal will retry');
    throw error;
  }
}

export function createActivities({ store, log, client }: ActivityDeps) {
  const nextItem: NextItemDeps = {
    store,
    log,
    onEpoch: async (ctx, report) => {
      // Progress display only: a failed signal (server restarting, run just closed) must not fail training.
      await client?.workflow
        .getHandle(ctx.workflowId, ctx.runId)
        .signal(TRAINING_PROGRESS_SIGNAL, {
          epoch: report.epoch,
          epochs: report.epochs,
          step: 0,
          steps: 0,
          loss: report.loss,
          validationNdcg10: report.validationNdcg10,
        })
        .catch((error: Error) => log.warn({ workflowId: ctx.workflowId, error: error.message }, 'training progress signal not delivered'));
    },
  };
  return {
    collect: (ctx: StepContext): Promise<CollectResult> =>
      step('collect', ctx, log, () => collectEvents(store, log, { dataset: ctx.config.dataset, maxBadRowFraction: ctx.config.maxBadRowFraction })),
    preprocess: (ctx: StepContext, collected: CollectResult): Promise<PreprocessResult> =>
      step('preprocess', ctx, log, () => MODEL_KIND_PLUGINS[ctx.config.kind].preprocess(nextItem, ctx, collected.snapshot)),
    train: (ctx: StepContext, prepared: PreprocessResult): Promise<TrainResult> =>
      step('train', ctx, log, () => MODEL_KIND_PLUGINS[ctx.config.kind].train(nextItem, ctx, prepared)),
    evaluate: (ctx: StepContext, prepared: PreprocessResult, trained: TrainResult): Promise<EvaluateResult> =>
      step('evaluate', ctx, log, () => MODEL_KIND_PLUGINS[ctx.config.kind].evaluate(nextItem, ctx, prepared, trained)),
    deploy: (ctx: StepContext, input: DeployInput) => step('deploy', ctx, log, () => deployModel(store, ctx, input)),
    ...createLearningLoopActivities({ store, log, client }),
    /** The rollback workflow's one step. A retry after a successful swap finds its own record and stops. */
    rollback: async (request: RollbackRequest, workflowId: string): Promise<ChampionAlias> => {
      const by = `${request.by} (workflow ${workflowId})`;
      try {
        const live = await readChampion(store, request.model);
        if (live?.alias.action === 'rollback' && live.alias.promotedBy === by) return live.alias;
        const alias = await applyAliasChange(store, await planRollback(store, request.model, { by, reason: request.reason }));
        log.info({ model: alias.model, version: alias.version, by }, 'rolled back');
        return alias;
      } catch (error) {
        const err = error as Error;
        throw isNonRetryable(err) ? ApplicationFailure.nonRetryable(err.message, err.name) : err;
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
/** Activities that need the model backend run on the training task queue. */
export const TRAINING_ACTIVITIES = ['train', 'evaluate'] as const;
