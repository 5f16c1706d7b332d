/**
 * The lifecycle's activities, built by a factory that receives their dependencies
 * (object store, logger, optional Temporal client), which keeps them testable and lets
 * each worker register exactly the ones its task queue serves. Every step finds its model
 * kind in the registry by the run's `kind`; the kind does the model-specific work.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { collectSources } from './collect/collect';
import { reportEpsilonNeedsKey } from './privacy/noisy-counts';
import { pseudonymiserFromEnv } from './privacy/pseudonyms';
import { deployModel, type DeployInput } from './deploy';
import { evaluateCandidate } from './evaluate';
import { createLearningLoopActivities } from './learning-loop';
import { applyAliasChange, planRollback, readChampion, type ChampionAlias } from './registry/serving-registry';
import { kindOf } from './model-kinds/registry';
import { createKindRuntime } from './kind-runtime';
import { trainThroughHarness } from './training-harness';
import { isNonRetryable, step } from './step';
import { cachedStep } from './storage/step-cache';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { STEP_PROGRESS_SIGNAL, TRAINING_PROGRESS_SIGNAL, type StepProgressUpdate } from '../schemas/progress';
import { heartbeat } from './progress';
import type { ObjectStore } from './storage/object-store';
import type { CollectResult, DatasetSnapshot, EvaluateResult, PreprocessResult, StepContext, TrainResult, TrainingProgress } from '../schemas/steps';
import type { RollbackRequest } from '../schemas/operator-input';

export interface ActivityDeps {
  store: ObjectStore;
  log: Logger;
  /** Lets training report epochs to its workflow (shown by the `progress` query). */
  client?: Client;
}

/** Live collect counts reach the workflow at most this often: each signal is a history event. */
const COLLECT_SIGNAL_INTERVAL_MS = 2_000;

export function createActivities({ store, log, client }: ActivityDeps) {
  /** Progress display only: a failed signal (server restarting, run just closed) must not fail the step. */
  const signalRun = (ctx: StepContext, signal: string, payload: unknown): Promise<void> =>
    client?.workflow
      .getHandle(ctx.workflowId, ctx.runId)
      .signal(signal, payload)
      .catch((error: Error) => log.warn({ workflowId: ctx.workflowId, signal, error: error.message }, 'progress signal not delivered')) ?? Promise.resolve();

  return {
    collect: (ctx: StepContext): Promise<CollectResult> =>
      step('collect', ctx, log, () => {
        // The first step checks what the last one (the run report) will need, before anything is trained.
        if (ctx.config.report.epsilon !== undefined && !pseudonymiserFromEnv().enabled) throw reportEpsilonNeedsKey();
        let lastSignal = 0;
        const onProgress = (rowsAccepted: number, file: string) => {
          heartbeat({ rowsAccepted, file });
          if (Date.now() - lastSignal < COLLECT_SIGNAL_INTERVAL_MS) return;
          lastSignal = Date.now();
          const update: StepProgressUpdate = { step: 'collect', rows: rowsAccepted, detail: file.split('/').pop() };
          void signalRun(ctx, STEP_PROGRESS_SIGNAL, update);
        };
        return collectSources(store, log, { dataset: ctx.config.dataset, sources: kindOf(ctx.config.kind).sources, maxBadRowFraction: ctx.config.maxBadRowFraction, maxRecordChars: ctx.config.maxRecordChars, onProgress });
      }, (collected) => collected.rowsImported),
    preprocess: (ctx: StepContext, collected: CollectResult): Promise<PreprocessResult> =>
      step('preprocess', ctx, log, () => {
        const kind = kindOf(ctx.config.kind);
        const keyMaterial = { snapshot: collected.snapshot.sha256, config: kind.preprocessKey?.(ctx) ?? null };
        return cachedStep(store, `preprocess/${kind.name}`, keyMaterial, ctx.config.force, async () => {
          const snapshot = await store.getJson<DatasetSnapshot>(collected.snapshot.key);
          return { kind: kind.name, ...(await kind.preprocess(createKindRuntime(store, log, ctx), snapshot)) };
        });
      }, (prepared) => prepared.rows),
    train: (ctx: StepContext, prepared: PreprocessResult): Promise<TrainResult> =>
      step('train', ctx, log, () => {
        const kind = kindOf(ctx.config.kind);
        const validationLabel = kind.metrics.validation.label;
        return trainThroughHarness({
          store,
          log,
          onEpoch: async (ctx, report) => {
            const progress: TrainingProgress = { epoch: report.epoch, epochs: report.epochs, step: 0, steps: 0, loss: report.loss, validation: report.validation, validationLabel };
            await signalRun(ctx, TRAINING_PROGRESS_SIGNAL, progress);
          },
        }, kind, ctx, prepared);
      }),
    evaluate: (ctx: StepContext, prepared: PreprocessResult, trained: TrainResult): Promise<EvaluateResult> =>
      step('evaluate', ctx, log, () => evaluateCandidate(store, log, kindOf(ctx.config.kind), ctx, prepared, trained)),
    deploy: (ctx: StepContext, input: DeployInput) => step('deploy', ctx, log, () => deployModel(store, log, kindOf(ctx.config.kind), ctx, input)),
    ...createLearningLoopActivities({ store, log }),
    /**
     * Who polls a task queue for activities (the server keeps pollers of the last few
     * minutes): tells a training pool with no worker from one whose workers are all busy.
     * Null without a Temporal client.
     */
    taskQueuePollers: async (taskQueue: string): Promise<{ pollers: number; identities: string[] } | null> => {
      if (!client) return null;
      const { pollers } = await client.workflowService.describeTaskQueue({
        namespace: client.options.namespace,
        taskQueue: { name: taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
      });
      const identities = (pollers ?? []).map((p) => p.identity ?? '?');
      return { pollers: identities.length, identities };
    },
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
