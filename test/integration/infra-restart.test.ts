import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { testStack, log } from './test-stack';
import { TINY, startAndAwaitCheckpoint } from './ops-fixtures';
import { assertRunLostNothing } from './artifact-audit';
import { restartService, type ServiceName } from '../../infra/local-stack';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

/**
 * Starts a lifecycle, restarts one service of the real local stack as soon as training
 * has written its first checkpoint, and checks the finished run against S3.
 */
async function runThroughRestart(service: ServiceName, dataset: string, seed: number, downtimeMs: number) {
  const { config, workers } = await testStack();
  const uploaded = await ensureSyntheticData(workers.store, dataset, nextItemKind, syntheticStoreFiles({ seed, users: 400, items: 80, categories: 6, days: 28, endDate: '2026-11-01' }));
  const input: LifecycleInputFields = {
    dataset,
    hyperparameters: { ...TINY, epochs: 10, patience: 10 },
    training: { checkpointEverySteps: 2, checkpointEverySeconds: 3600, heartbeatTimeoutSeconds: 30 },
  };
  const { workflowId, run } = await startAndAwaitCheckpoint(workers, config, input);
  const restarted = await restartService(service, log, config, downtimeMs);
  assert.equal(restarted.state, 'started');
  const during = await workers.client.workflow.getHandle(workflowId).describe();
  assert.equal(during.status.name, 'RUNNING', 'the restart happened in the middle of the run');
  const outcome = await run;
  assert.equal(outcome.status, 'completed', outcome.status === 'failed' ? outcome.error : '');
  await assertRunLostNothing(workers.store, dataset, outcome.summary, uploaded!.rows!);
  return outcome.summary;
}

describe('a run survives restarts of the local stack @integration', () => {
  it('Temporal dev server restarted during training: the run completes with every artifact once', async () => {
    const summary = await runThroughRestart('temporal', 'temporal-restart', 21, 0);
    assert.equal(summary.training.epochs, 10);
    // The training activity rode through the outage on the same worker: no retry, no resume.
    assert.equal(summary.training.resumedFromStep, null);
  });

  it('S3 gateway down for 2 minutes during training: every request waits it out, the run completes, nothing is lost or doubled', async () => {
    // Far longer than the S3 client's own retries and the training heartbeat timeout (30 s),
    // while training writes a checkpoint every 2 steps.
    const summary = await runThroughRestart('s3', 's3-restart', 22, 120_000);
    const { config } = await testStack();
    const log = readFileSync(path.join(config.local.dataDir, 'logs', 'training-worker-test.log'), 'utf8');
    assert.doesNotMatch(log, /StorageUnavailableError/);
    assert.ok(summary.training.epochs > 0);
  });
});
