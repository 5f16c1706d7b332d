import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { TINY } from './ops-fixtures';
import { assertRunLostNothing } from './artifact-audit';
import { runLifecycle } from '../../cli/local-run';
import { readVersionManifest } from '../../activities/registry/serving-registry';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';

describe('several lifecycles at once @integration', () => {
  it('three stores run concurrently on the local stack, each complete and correct, none mixed with another', async () => {
    const { config, workers } = await testStack();
    const stores = [
      { dataset: 'load-a', seed: 41 },
      { dataset: 'load-b', seed: 42 },
      { dataset: 'load-c', seed: 43 },
    ];
    const uploaded = await Promise.all(
      stores.map(({ dataset, seed }) => ensureSyntheticData(workers.store, dataset, nextItemKind, syntheticStoreFiles({ seed, users: 400, items: 80, categories: 6, days: 28, endDate: '2026-11-01' }))),
    );
    const outcomes = await Promise.all(
      stores.map(({ dataset }) => runLifecycle(workers.client, config, { dataset, hyperparameters: { ...TINY, epochs: 10, patience: 10 } })),
    );
    for (const [index, outcome] of outcomes.entries()) {
      const { dataset } = stores[index];
      assert.equal(outcome.status, 'completed', outcome.status === 'failed' ? `${dataset}: ${outcome.error}` : '');
      await assertRunLostNothing(workers.store, dataset, outcome.summary, uploaded[index]!.rows!);
      const manifest = await readVersionManifest(workers.store, outcome.summary.model, outcome.summary.version!);
      assert.equal(manifest.lineage.dataset, dataset);
      assert.equal(manifest.lineage.workflowId, outcome.workflowId);
    }
  });
});
