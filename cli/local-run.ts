/**
 * Runs one lifecycle with both workers inside this process: what `npm start` and the
 * integration tests do. Production runs the workers as their own processes instead
 * (workers/pipeline-worker.ts, workers/training-worker.ts).
 */
import { WorkflowFailedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { runTitle } from '../schemas/progress';
import type { NativeConnection } from '@temporalio/worker';
import { ObjectStore } from '../activities/storage/object-store';
import { createPipelineWorker } from '../workers/workers';
import { PROJECT_ROOT } from '../infra/config';
import { connectClient, connectWorker } from '../workers/temporal-connection';
import { progressQuery, type LifecycleProgress } from '../workflows/progress';
import { servingModelName, parseLifecycleInput, type LifecycleInputFields } from '../schemas/lifecycle-input';
import type { LifecycleSummary } from '../workflows/lifecycle';
import type { StoreloopConfig } from '../infra/config';
import type { Logger } from 'pino';

export interface LocalWorkers {
  client: Client;
  store: ObjectStore;
  /** SIGKILLs the training worker process (a crash, for fault-injection tests) and starts a new one. */
  replaceTrainingWorker(): Promise<void>;
  /** Settles with the reason once a worker is gone for good: the pipeline worker failed, or the training worker kept dying. */
  lost: Promise<string>;
  shutdown(): Promise<void>;
}

/** A training worker that dies is started again, this many times per run of the workers; then they are lost. */
const TRAINING_WORKER_RESTARTS = 3;

/**
 * Starts the training worker as its own process: training blocks its event loop for
 * seconds at a time, which must not stall the workflow tasks of the pipeline worker.
 */
export function spawnTrainingWorker(logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const out = openSync(logFile, 'a');
  return spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'training-worker.ts')], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', out, out],
    env,
  });
}

/**
 * Both workers, supervised: a training worker that exits on its own (a crash, the kernel's
 * OOM killer) is started again, and its retried activity resumes from its checkpoint.
 */
export async function startLocalWorkers(config: StoreloopConfig, log: Logger, logFile: string): Promise<LocalWorkers> {
  let giveUp!: (reason: string) => void;
  const lost = new Promise<string>((resolve) => (giveUp = resolve));
  let stopping = false;
  let restarts = 0;
  const supervise = (worker: ChildProcess): ChildProcess => {
    worker.once('exit', (code, signal) => {
      if (stopping || worker !== trainingWorker) return;
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (restarts >= TRAINING_WORKER_RESTARTS) {
        giveUp(`the training worker ${how} ${restarts + 1} times; see ${logFile}`);
        return;
      }
      restarts++;
      log.warn({ logFile, code, signal }, `training worker ${how}; starting it again (${restarts} of ${TRAINING_WORKER_RESTARTS})`);
      trainingWorker = supervise(spawnTrainingWorker(logFile));
    });
    return worker;
  };
  let trainingWorker = supervise(spawnTrainingWorker(logFile));
  const connection: NativeConnection = await connectWorker(config.temporal);
  const client = await connectClient(config.temporal);
  const store = new ObjectStore(config.s3);
  const pipelineWorker = await createPipelineWorker(connection, config, { store, log, client });
  const running = pipelineWorker.run().catch((error: Error) => {
    giveUp(`the pipeline worker failed: ${error.message}`);
  });
  return {
    client,
    store,
    lost,
    async replaceTrainingWorker() {
      const killed = trainingWorker;
      trainingWorker = supervise(spawnTrainingWorker(logFile));
      const exited = once(killed, 'exit');
      killed.kill('SIGKILL');
      await exited;
    },
    async shutdown() {
      stopping = true;
      const exited = trainingWorker.exitCode === null ? once(trainingWorker, 'exit') : Promise.resolve();
      trainingWorker.kill('SIGTERM');
      if (pipelineWorker.getState() === 'RUNNING') pipelineWorker.shutdown();
      await Promise.all([running, exited]);
      await connection.close();
      await client.connection.close();
      store.client.destroy();
    },
  };
}

export type RunOutcome =
  | { status: 'completed'; workflowId: string; runId: string; summary: LifecycleSummary }
  | { status: 'failed'; workflowId: string; runId: string; error: string; progress: LifecycleProgress | null };

export function workflowIdFor(input: LifecycleInputFields, now = new Date()): string {
  const config = parseLifecycleInput(input);
  return `lifecycle-${servingModelName(config)}-${now.toISOString().replace(/[:.]/g, '-')}`;
}

/** The innermost failure message: "Activity task failed" alone says nothing useful. */
function rootCause(error: Error): string {
  let current: Error = error;
  while (current.cause instanceof Error) current = current.cause;
  return current.message;
}

/** Starts a lifecycle run; `trigger` says who or what started it, for the Temporal UI. */
export function startLifecycle(client: Client, config: StoreloopConfig, input: LifecycleInputFields, workflowId: string, trigger: string): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start('modelLifecycle', {
    taskQueue: config.temporal.pipelineTaskQueue,
    workflowId,
    // The workflow cannot read this process's environment: tell it where training runs.
    args: [{ trainingTaskQueue: config.temporal.trainingTaskQueue, ...input }],
    staticSummary: runTitle(input, `started by ${trigger}`),
  });
}

/** Starts the lifecycle workflow and waits for it, reporting progress from its query. */
export async function runLifecycle(
  client: Client,
  config: StoreloopConfig,
  input: LifecycleInputFields,
  onProgress?: (progress: LifecycleProgress) => void,
  workflowId = workflowIdFor(input),
  trigger = `storeloop run (${os.userInfo().username})`,
): Promise<RunOutcome> {
  const handle = await startLifecycle(client, config, input, workflowId, trigger);
  let lastProgress: LifecycleProgress | null = null;
  let inFlight: Promise<void> = Promise.resolve();
  const poll = setInterval(() => {
    inFlight = handle
      .query(progressQuery)
      .then((p) => {
        lastProgress = p;
        onProgress?.(p);
      })
      .catch(() => undefined); // the workflow may not have its first task yet
  }, 1000);
  try {
    const summary = (await handle.result()) as LifecycleSummary;
    return { status: 'completed', workflowId, runId: handle.firstExecutionRunId, summary };
  } catch (error) {
    const cause = error instanceof WorkflowFailedError ? rootCause(error) : (error as Error).message;
    const finalProgress = await handle.query(progressQuery).catch(() => lastProgress);
    return { status: 'failed', workflowId, runId: handle.firstExecutionRunId, error: cause, progress: finalProgress };
  } finally {
    clearInterval(poll);
    await inFlight; // never close the connection under a running query
  }
}

/**
 * runLifecycle on the local workers, supervised: if they are lost before the run ends, the
 * run is terminated with the reason, so the caller reports it instead of waiting forever.
 */
export async function runOnLocalWorkers(workers: LocalWorkers, config: StoreloopConfig, input: LifecycleInputFields, onProgress: (progress: LifecycleProgress) => void, workflowId: string): Promise<RunOutcome> {
  const run = runLifecycle(workers.client, config, input, onProgress, workflowId);
  const lostFirst = await Promise.race([run.then(() => null), workers.lost]);
  if (lostFirst === null) return run;
  await workers.client.workflow.getHandle(workflowId).terminate(lostFirst).catch(() => undefined);
  const outcome = await run;
  return outcome.status === 'failed' ? { ...outcome, error: lostFirst } : outcome;
}
