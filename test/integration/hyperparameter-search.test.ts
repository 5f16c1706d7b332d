import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { seedDataset, TINY } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';

describe('hyperparameter search @integration', () => {
  it('stops at its time budget: trials still queued or training are cancelled, nothing is stored, the run completes', async () => {
    const { config, workers } = await testStack();
    const dataset = `search-budget-${Date.now()}`;
    await seedDataset(workers.store, dataset);
    const run = await runLifecycle(workers.client, config, {
      dataset,
      // `force`: the trials cannot come from the train step's cache. A 100-epoch trial of this size
      // takes ~30 s here (30 epochs of TINY took 4.6 s), ten times the 3 s budget.
      force: true,
      hyperparameters: { ...TINY, hiddenDim: 32, epochs: 100, patience: 100 },
      optimize: { search: { enabled: true, trials: 2, minEpochs: 100, maxEpochs: 100, maxMinutes: 0.05, space: { learningRate: { choices: [0.01, 0.003] } } } },
    });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    const search = run.summary.optimize.search!;
    assert.deepEqual([search.stoppedBy, search.trials, search.best, search.stored], ['time budget', [], null, null]);
    assert.match(run.summary.optimize.rationale, /search: 0 trials, none finished/);
    for (const trial of ['t0', 't1']) {
      const described = await workers.client.workflow.getHandle(`${search.workflowId}-rung0-${trial}`).describe();
      assert.equal(described.status.name, 'CANCELLED', trial);
    }
    assert.equal(await workers.store.head(`runs/${dataset}-next-item/best-hyperparameters.json`), undefined);
  });
});
