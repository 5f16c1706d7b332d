/**
 * The training harness every kind trains through: step caching, backend selection,
 * heartbeats every step, checkpoints to S3 and resume after a lost worker, cancellation,
 * epoch progress to the workflow, and the saved model bundle. A kind's `train` only runs its
 * loop with the hooks it is given.
 *
 *   checkpoints/<dataset>/<workflowId>/<run>/<activity>/step-<n>.{bin,json}
 *   artifacts/<dataset>/<kind>/models/<weights sha256>/{model-<json sha256>.json,weights.bin}
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { InputDataError } from './errors';
import { cachedStep } from './storage/step-cache';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint, sweepOrphanCheckpoints } from './storage/checkpoints';
import { saveModelBundle } from './storage/model-bundles';
import { activityKey, cancellationRequested, heartbeat, isCancelled, previousHeartbeat } from './progress';
import { createKindRuntime } from './kind-runtime';
import { selectBackend } from '../ml/backend';
import type { AnyModelKind } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { EpochReport } from '../ml/training-hooks';
import type { PreprocessResult, StepContext, TrainResult } from '../schemas/steps';
import type { Logger } from 'pino';

interface TrainHeartbeat {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  checkpoint?: string;
}

/**
 * The memory a training worker may use, in bytes: STORELOOP_TRAINING_MEMORY_MB, else the
 * container's cgroup limit, else the machine's memory. A GPU worker sets the variable to
 * its device's memory.
 */
export function trainingMemoryBudget(): { bytes: number; source: string } {
  const configured = process.env.STORELOOP_TRAINING_MEMORY_MB;
  if (configured) {
    const mb = Number(configured);
    if (!Number.isFinite(mb) || mb <= 0) throw new Error(`STORELOOP_TRAINING_MEMORY_MB must be a positive number of MiB, got "${configured}"`);
    return { bytes: mb * 2 ** 20, source: 'STORELOOP_TRAINING_MEMORY_MB' };
  }
  try {
    const limit = readFileSync('/sys/fs/cgroup/memory.max', 'utf8').trim();
    if (/^\d+$/.test(limit) && Number(limit) < os.totalmem()) return { bytes: Number(limit), source: 'the cgroup memory limit' };
  } catch {
    // No cgroup v2 limit readable: the machine's memory bounds the worker.
  }
  return { bytes: os.totalmem(), source: "the machine's memory" };
}

const mib = (bytes: number) => `${Math.round(bytes / 2 ** 20).toLocaleString('en-US')} MiB`;

/** Refuses, before anything is allocated, a configuration whose kind says it cannot fit the worker. */
function checkTrainingMemory(kind: AnyModelKind, prepared: PreprocessResult, hyperparameters: Record<string, unknown>, log: Logger): void {
  const needed = kind.trainingMemoryBytes?.(prepared, hyperparameters);
  if (needed === undefined) return;
  const budget = trainingMemoryBudget();
  log.info({ kind: kind.name, estimateMiB: Math.round(needed / 2 ** 20), budgetMiB: Math.round(budget.bytes / 2 ** 20) }, 'training memory estimate');
  if (needed > budget.bytes) {
    throw new InputDataError(
      'TrainingMemoryExceeded',
      `${kind.name} with hyperparameters ${JSON.stringify(hyperparameters)} needs about ${mib(needed)} to train, over the worker's ${mib(budget.bytes)} (${budget.source}): ` +
        'use a smaller configuration (batch, widths, lengths), or a worker with more memory',
    );
  }
}

export interface HarnessDeps {
  store: ObjectStore;
  log: Logger;
  /** Progress display (the workflow's `progress` query); a failure must not fail training. */
  onEpoch?: (ctx: StepContext, report: EpochReport) => Promise<void>;
}

export async function trainThroughHarness(deps: HarnessDeps, kind: AnyModelKind, ctx: StepContext, prepared: PreprocessResult): Promise<TrainResult> {
  const { store, log } = deps;
  const hyperparameters = kind.hyperparameters.schema.parse(ctx.config.hyperparameters);
  const inputs = Object.fromEntries(Object.entries(prepared.artifacts).map(([name, ref]) => [name, ref.sha256]));
  // Options belong to the key too: a kind may ship some with its model (transaction-risk's decision thresholds).
  return cachedStep(store, `train/${kind.name}`, { inputs, hyperparameters, options: ctx.config.options }, ctx.config.force, async () => {
    checkTrainingMemory(kind, prepared, hyperparameters, log);
    const backend = await selectBackend(log);
    // A retry after a lost worker continues from the newest complete checkpoint of this
    // activity. Heartbeats name it too, but throttled heartbeats can lag behind.
    const attempt = activityKey();
    const checkpointPrefix = `checkpoints/${ctx.config.dataset}/${ctx.workflowId}/${attempt ?? `local-${Date.now()}`}`;
    const swept = await sweepOrphanCheckpoints(store, ctx.config.dataset, checkpointPrefix);
    if (swept > 0) log.info({ dataset: ctx.config.dataset, objects: swept }, 'removed checkpoints of training attempts that ended without cleaning up');
    const resumeKey = attempt && (await latestCheckpoint(store, checkpointPrefix));
    const resumeFrom = resumeKey ? await loadCheckpoint(store, resumeKey) : undefined;
    if (resumeKey) {
      // Warn: a resume means a worker was lost, which operators want to see.
      log.warn({ checkpoint: resumeKey, step: resumeFrom?.step, lastHeartbeat: previousHeartbeat<TrainHeartbeat>() }, 'resuming training from checkpoint');
    }
    let checkpoint = resumeKey;
    const rt = {
      ...createKindRuntime(store, log, ctx),
      hooks: {
        resumeFrom,
        checkpoints: {
          everySteps: ctx.config.training.checkpointEverySteps,
          everySeconds: ctx.config.training.checkpointEverySeconds,
          save: async (c: { state: unknown; tensors: { name: string; tensor: tf.Tensor }[] }, step: number) => {
            checkpoint = await saveCheckpoint(store, checkpointPrefix, step, c);
            log.info({ checkpoint, step }, 'checkpoint saved');
          },
        },
        onStep: (epoch: number, step: number, steps: number, loss: number) => heartbeat({ epoch, step, steps, loss, checkpoint } satisfies TrainHeartbeat),
        onEpoch: async (report: EpochReport) => {
          log.info({ ...report, memoryMB: report.bytes === undefined ? undefined : +(report.bytes / 2 ** 20).toFixed(1) }, 'epoch done');
          await deps.onEpoch?.(ctx, report);
        },
        shouldStop: isCancelled,
      },
    };
    log.info({ kind: kind.name, backend: backend.name, resumed: Boolean(resumeFrom) }, 'training');
    const trained = await kind.train(rt, prepared, hyperparameters).catch(async (error: unknown) => {
      // A cancelled run is never resumed (a new run trains under its own prefix): drop its checkpoints.
      if (cancellationRequested()) await store.deletePrefix(`${checkpointPrefix}/`);
      throw error;
    });
    if (resumeFrom) tf.dispose(resumeFrom.tensors.map((t) => t.tensor));
    try {
      const best = trained.history.find((e) => e.epoch === trained.bestEpoch) ?? trained.history[trained.history.length - 1];
      const model = await saveModelBundle(store, `artifacts/${ctx.config.dataset}/${kind.name}/models`, kind.name, trained.weights, trained.config, { backend: backend.name, tfjsVersion: tf.version_core }, {
        history: trained.history,
        bestEpoch: trained.bestEpoch,
        inputs,
        ...trained.notes,
      });
      // The model is saved: its checkpoints have served their purpose.
      await store.deletePrefix(`${checkpointPrefix}/`);
      return {
        model,
        backend: backend.name,
        bestEpoch: trained.bestEpoch,
        epochs: trained.history.length,
        trainSeconds: trained.trainSeconds,
        samplesPerSecond: trained.samples / Math.max(1e-9, trained.stepSeconds),
        finalLoss: trained.history[trained.history.length - 1]?.loss ?? Number.NaN,
        bestValidation: best?.validation ?? Number.NaN,
        cached: false,
        // The checkpoint's own step: a loop's state, restored from it, has moved on by now.
        resumedFromStep: resumeFrom?.step ?? null,
      };
    } finally {
      trained.dispose();
    }
  });
}
