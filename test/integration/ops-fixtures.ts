/**
 * Shared pieces of the operations tests: a tiny synthetic dataset, hyperparameters that
 * train in seconds on 2 shared cores, and the real `storeloop` CLI run as a child process
 * (it inherits the test stack's ports, bucket and task queues from the environment).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import { PROJECT_ROOT, type StoreloopConfig } from '../../infra/config';
import { runLifecycle, workflowIdFor, type LocalWorkers, type RunOutcome } from '../../cli/local-run';
import { generateSyntheticStore, weeklyEventFiles } from '../../activities/model-kinds/next-item/synthetic';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

// Beats the popularity baseline on seedDataset (NDCG@10 ~.60 vs .53) in ~8 s, so runs have a model to promote.
export const TINY: LifecycleInputFields['hyperparameters'] = {
  epochs: 5, patience: 5, hiddenDim: 16, maxLen: 10, blocks: 1, batchSize: 32, validationUsers: 200, learningRate: 0.01,
};

/** Four weeks of a small store's events, ending 2026-11-01, under raw/<dataset>/events/. */
export async function seedDataset(store: ObjectStore, dataset: string): Promise<void> {
  const { events } = generateSyntheticStore({ seed: 5, users: 400, items: 80, categories: 6, days: 28, endDate: '2026-11-01' });
  for (const file of weeklyEventFiles(events)) await store.put(`raw/${dataset}/events/${file.name}`, file.csv);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON (commands run with --json). */
  json: <T = Record<string, unknown>>() => T;
}

export function storeloop(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'storeloop.ts'), ...args], { cwd: PROJECT_ROOT, env: process.env }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, json: <T>() => JSON.parse(stdout.trim().split('\n').at(-1)!) as T });
    });
  });
}

export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Starts a lifecycle and resolves once its training has written a checkpoint, so a fault
 * injected next lands in the middle of training. `run` settles when the lifecycle does.
 */
export async function startAndAwaitCheckpoint(
  workers: LocalWorkers,
  config: StoreloopConfig,
  input: LifecycleInputFields,
): Promise<{ workflowId: string; run: Promise<RunOutcome> }> {
  const workflowId = workflowIdFor(input);
  const run = runLifecycle(workers.client, config, input, undefined, workflowId);
  const checkpoints = `checkpoints/${input.dataset}/${workflowId}/`;
  for (let waited = 0; !(await workers.store.list(checkpoints)).some((o) => o.key.endsWith('.json')); waited += 200) {
    assert.ok(waited < 120_000, 'training wrote no checkpoint');
    await sleep(200);
  }
  return { workflowId, run };
}
