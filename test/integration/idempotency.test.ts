import assert from 'node:assert/strict';
import { testStack, log } from './test-stack';
import { createActivities } from '../../activities';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import type { StepContext } from '../../schemas/steps';

describe('re-executed steps write the same objects @integration', () => {
  it('collect, preprocess, train and deploy are idempotent under forced re-execution', async () => {
    const { workers } = await testStack();
    const store = workers.store;
    const dataset = 'idempotency';
    await ensureSyntheticData(store, dataset, nextItemKind, syntheticStoreFiles({ seed: 9, users: 800, items: 120, categories: 6, days: 14, endDate: '2026-11-01' }));
    const activities = createActivities({ store, log });
    const ctx: StepContext = {
      config: parseLifecycleInput({ dataset, force: true, hyperparameters: { epochs: 15, patience: 15, hiddenDim: 32, maxLen: 10, learningRate: 0.005 } }),
      workflowId: 'idempotency-test',
      runId: 'run-1',
      startedAt: '2026-11-02T02:00:00.000Z',
    };

    const collected = await activities.collect(ctx);
    // A retry after the watermark moved imports nothing new and describes the same data.
    const collectedAgain = await activities.collect(ctx);
    assert.deepEqual(collectedAgain.newFiles, []);
    assert.equal(collectedAgain.totalRows, collected.totalRows);
    assert.deepEqual(collectedAgain.snapshot, collected.snapshot);

    const prepared = await activities.preprocess(ctx, collected);
    const preparedAgain = await activities.preprocess(ctx, collected);
    assert.deepEqual([preparedAgain.artifacts.sequences, preparedAgain.artifacts.vocabulary], [prepared.artifacts.sequences, prepared.artifacts.vocabulary]);

    const trained = await activities.train(ctx, prepared);
    const trainedAgain = await activities.train(ctx, prepared);
    const weightsFolder = (key: string) => key.slice(0, key.lastIndexOf('/'));
    assert.equal(weightsFolder(trainedAgain.model.key), weightsFolder(trained.model.key), 'the same seed trains byte-identical weights (the folder is named by their hash)');

    const evaluation = await activities.evaluate(ctx, prepared, trained);
    assert.ok(evaluation.promote, evaluation.reasons.join('; '));
    const deployed = await activities.deploy(ctx, { collected, prepared, trained, evaluation });
    const deployedAgain = await activities.deploy(ctx, { collected, prepared, trained, evaluation });
    assert.equal(deployed.promoted, true);
    assert.equal(deployedAgain.version, deployed.version);
    assert.match(deployedAgain.reason, /already promoted/);
    const history = await store.list(`serving/${dataset}-next-item/history/`);
    assert.equal(history.length, 1, 'promoted exactly once');
  });
});
