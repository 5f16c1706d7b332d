import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testStack } from './test-stack';
import { runLifecycle, workflowIdFor } from '../../cli/local-run';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

describe('training survives a killed worker @integration', () => {
  it('resumes from the last checkpoint after SIGKILL and ends where an uninterrupted run ends', async () => {
    const { config, workers } = await testStack();
    const dataset = 'crash-test';
    await ensureSyntheticData(workers.store, dataset, nextItemKind, syntheticStoreFiles({ seed: 5, users: 1500, items: 300, categories: 10, days: 28, endDate: '2026-11-01' }));
    const input: LifecycleInputFields = {
      dataset,
      hyperparameters: { epochs: 10, patience: 10, hiddenDim: 32, maxLen: 20, learningRate: 0.003 },
      training: { checkpointEverySteps: 8, checkpointEverySeconds: 3600, heartbeatTimeoutSeconds: 10 },
    };

    const workflowId = workflowIdFor(input);
    const crashed = runLifecycle(workers.client, config, input, undefined, workflowId);
    // Wait for the second checkpoint, so the crash lands in the middle of training.
    const prefix = `checkpoints/${dataset}/${workflowId}/`;
    for (let waited = 0; (await workers.store.list(prefix)).filter((o) => o.key.endsWith('.json')).length < 2; waited += 200) {
      assert.ok(waited < 300_000, 'no checkpoint appeared');
      await sleep(200);
    }
    const stepOf = (key: string) => Number(/step-(\d+)\.json$/.exec(key)?.[1]);
    const savedBeforeKill = (await workers.store.list(prefix)).filter((o) => o.key.endsWith('.json')).map((o) => stepOf(o.key));
    await workers.replaceTrainingWorker();
    const resumed = await crashed;
    assert.equal(resumed.status, 'completed', resumed.status === 'failed' ? resumed.error : '');
    // The step of the checkpoint it resumed from: a saved one (every 8 steps), not where training ended.
    const resumedFrom = resumed.summary.training.resumedFromStep;
    assert.ok(resumedFrom !== null && resumedFrom >= Math.max(...savedBeforeKill) && resumedFrom % 8 === 0, `resumed from step ${resumedFrom}; saved before the kill: ${savedBeforeKill.join(', ')}`);
    const log = readFileSync(path.join(config.local.dataDir, 'logs', 'training-worker-test.log'), 'utf8');
    assert.match(log, /resuming training from checkpoint/);

    const clean = await runLifecycle(workers.client, config, { ...input, force: true });
    assert.equal(clean.status, 'completed', clean.status === 'failed' ? clean.error : '');
    assert.equal(clean.summary.training.resumedFromStep, null);
    for (const k of ['hr@10', 'ndcg@10'] as const) {
      assert.ok(Math.abs(resumed.summary.metrics[k] - clean.summary.metrics[k]) < 0.02, `${k}: resumed ${resumed.summary.metrics[k]} vs uninterrupted ${clean.summary.metrics[k]}`);
    }
  });
});
