import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { testStack } from './test-stack';
import { TINY, eventually, seedDataset, startAndAwaitCheckpoint } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { readChampion } from '../../activities/registry/serving-registry';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

describe('cancelling a run during training @integration', () => {
  it('reaches the training loop through heartbeats: the run ends cancelled, training stops at once, nothing is promoted, the worker takes the next run', async () => {
    const { config, workers } = await testStack();
    const dataset = 'cancelled';
    await seedDataset(workers.store, dataset);
    // At least 100 epochs (patience): minutes of training; the first checkpoint comes after a few steps.
    const input: LifecycleInputFields = {
      dataset,
      hyperparameters: { ...TINY, epochs: 300, patience: 100 },
      training: { checkpointEverySteps: 5, checkpointEverySeconds: 3600, heartbeatTimeoutSeconds: 10 },
    };
    const { workflowId, run } = await startAndAwaitCheckpoint(workers, config, input);

    const handle = workers.client.workflow.getHandle(workflowId);
    const cancelledAt = Date.now();
    await handle.cancel();
    const outcome = await run;
    assert.equal(outcome.status, 'failed');
    assert.equal((await handle.describe()).status.name, 'CANCELLED');
    // The workflow waited for the training activity to acknowledge: it stopped, it was not abandoned.
    const { events } = await handle.fetchHistory();
    assert.ok(events?.some((e) => e.activityTaskCanceledEventAttributes), 'the training activity reported itself cancelled');

    // The training worker logs the moment its loop saw the cancellation (heartbeats are
    // throttled to 0.8 x the 10 s heartbeat timeout, so it may take a few seconds).
    const logFile = path.join(config.local.dataDir, 'logs', 'training-worker-test.log');
    const stopped = await eventually('the training step to stop', async () =>
      readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes(workflowId) && line.includes('"step cancelled"'))
        .map((line) => JSON.parse(line) as { time: number; step: string })[0],
    60_000);
    assert.equal(stopped.step, 'train');
    assert.ok(stopped.time - cancelledAt < 20_000, `training stopped ${stopped.time - cancelledAt} ms after the cancel request`);
    assert.deepEqual(await workers.store.list(`checkpoints/${dataset}/${workflowId}/`), [], 'a cancelled run leaves no checkpoints');

    const model = `${dataset}-next-item`;
    assert.equal(await readChampion(workers.store, model), null, 'nothing promoted');
    assert.deepEqual(await workers.store.list(`serving/${model}/`), []);

    // The one training slot is free again: a short run trains, evaluates and promotes.
    const next = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(next.status, 'completed', next.status === 'failed' ? next.error : '');
    assert.equal(next.summary.promoted, true, next.summary.reasons.join('; '));
  });
});
