import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { testStack, sliceOfSequences } from './test-stack';
import { datasetOrSkip } from '../datasets';
import { runLifecycle } from '../../cli/local-run';
import { importFile } from '../../sources/import';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import { readTable } from '../../activities/storage/arrow-io';
import { readChampion } from '../../activities/registry/serving-registry';
import { STEP_NAMES } from '../../schemas/steps';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

// Smaller and faster than the pipeline's defaults so the suite stays short on 2 cores.
const FAST: LifecycleInputFields['hyperparameters'] = { epochs: 20, patience: 20, hiddenDim: 32, maxLen: 20, learningRate: 0.003 };

describe('model lifecycle on the real stack @integration', () => {
  it('trains on the synthetic store, beats popularity and promotes; the next run compares with that champion', async () => {
    const { config, workers } = await testStack();
    const dataset = 'synthetic-test';
    const synthetic = await ensureSyntheticData(workers.store, dataset, nextItemKind, syntheticStoreFiles({ seed: 11, users: 1500, items: 300, categories: 10, days: 28, endDate: '2026-11-01' }));

    const first = await runLifecycle(workers.client, config, { dataset, hyperparameters: FAST });
    assert.equal(first.status, 'completed', first.status === 'failed' ? first.error : '');
    const s = first.summary;
    assert.deepEqual(s.steps.map((st) => [st.name, st.status]), STEP_NAMES.map((n) => [n, 'completed']));
    assert.equal(s.data.rowsImported, synthetic?.rows);
    assert.ok(s.metrics['ndcg@10'] > s.baseline['ndcg@10'] * 1.2, `model ${s.metrics['ndcg@10']} vs popularity ${s.baseline['ndcg@10']}`);
    assert.equal(s.champion, null);
    assert.equal(s.promoted, true);
    const live = await readChampion(workers.store, 'synthetic-test-next-item');
    assert.equal(live?.alias.version, s.version);
    const manifest = await workers.store.getJson<{ lineage: { backend: string; runId: string } }>(`serving/synthetic-test-next-item/versions/${s.version}/manifest.json`);
    assert.equal(manifest.lineage.runId, first.runId);
    assert.equal(manifest.lineage.backend, s.backend);

    // What the Temporal UI shows without opening payloads: the run's title and its live details.
    const handle = workers.client.workflow.getHandle(first.workflowId, first.runId);
    assert.match((await (await handle.describe()).staticSummary()) ?? '', /^next-item on synthetic-test, started by storeloop run/);
    const { currentDetails } = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    assert.match(currentDetails, /^\*\*next-item\*\*: between steps/);
    for (const step of STEP_NAMES) assert.match(currentDetails, new RegExp(`^\\| ${step} \\| completed \\| \\d+\\.\\d \\|`, 'm'), currentDetails);
    assert.match(currentDetails, /\| deploy \| completed \| [\d.]+ \|  \| promoted v/);

    // Unchanged data and configuration: steps come from the cache, and the candidate is
    // compared with (and identical to) the champion the first run promoted.
    const second = await runLifecycle(workers.client, config, { dataset, hyperparameters: FAST });
    assert.equal(second.status, 'completed', second.status === 'failed' ? second.error : '');
    const cachedTrain = second.summary.steps.find((st) => st.name === 'train');
    assert.equal(cachedTrain?.status, 'cached');
    assert.ok((cachedTrain?.savedMs ?? 0) > 1000, `train step saved ${cachedTrain?.savedMs} ms`);
    assert.equal(second.summary.championVersion, s.version);
    assert.ok(second.summary.champion);
    assert.equal(second.summary.promoted, false);
    assert.match(second.summary.reasons.join(' '), /same weights as the live champion/);
  });

  it('runs on a slice of Amazon Beauty and quarantines bad rows of a later CSV', async function () {
    const beauty = datasetOrSkip(this, 'amazon-beauty', 'sequences.txt');
    const { config, workers } = await testStack();
    const dataset = 'beauty-slice';
    await importFile(workers.store, sliceOfSequences(beauty, 1500), dataset, nextItemKind);
    const bad = ['user_id,item_id,event_type,timestamp', ...Array.from({ length: 60 }, (_, i) => `9${i},${(i % 50) + 1},view,2015-06-0${(i % 9) + 1}T00:00:00Z`), '99,1,teleport,2015-06-01T00:00:00Z', '98,1,view,not-a-time'];
    await workers.store.put(`raw/${dataset}/events/late-events.csv`, bad.join('\n'));

    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: FAST });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    const s = run.summary;
    assert.equal(s.data.quarantinedRows, 2);
    assert.ok(s.data.stats.users >= 1500);
    for (const m of [s.metrics, s.baseline]) for (const k of ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20'] as const) assert.ok(m[k] >= 0 && m[k] <= 1);
    assert.equal(s.promoted, s.metrics['ndcg@10'] > s.baseline['ndcg@10'], s.reasons.join('; '));
    const quarantine = await workers.store.list(`quarantine/${dataset}/`);
    assert.equal(quarantine.length, 1);
    const rows = await readTable(workers.store, quarantine[0].key);
    assert.deepEqual(rows.toArray().map((r) => [r.file, r.row, r.field]).sort(), [
      [`raw/${dataset}/events/late-events.csv`, 61, 'event_type'],
      [`raw/${dataset}/events/late-events.csv`, 62, 'timestamp'],
    ]);
  });

  it('fails fast with a named, non-retryable error on a file with too many bad rows', async () => {
    const { config, workers } = await testStack();
    const dataset = 'mostly-bad';
    const lines = ['user_id,item_id,event_type,timestamp', 'u1,i1,view,2024-01-01T00:00:00Z', 'u2,i2,view,never', 'u3,i3,jump,2024-01-01T00:00:00Z'];
    await workers.store.put(`raw/${dataset}/events/broken.csv`, lines.join('\n'));
    const started = Date.now();
    const run = await runLifecycle(workers.client, config, { dataset });
    assert.equal(run.status, 'failed');
    assert.match(run.status === 'failed' ? run.error : '', /broken\.csv: 2 of 3 rows are invalid/);
    assert.ok(Date.now() - started < 30_000, 'no retry loop');
    // Refused, but not lost: every bad row is in the quarantine the error names, in file order.
    const quarantineUri = /(s3:\/\/\S+\/quarantine\/mostly-bad\/[0-9a-f]{64}\.arrow)/.exec(run.status === 'failed' ? run.error : '')?.[1];
    assert.ok(quarantineUri, 'the error names the quarantine');
    const quarantined = await readTable(workers.store, workers.store.keyOf(quarantineUri));
    assert.deepEqual(Array.from(quarantined.getChild('row')!.toArray(), Number), [2, 3], 'data rows 2 and 3');
    assert.deepEqual([...quarantined.getChild('field')!], ['timestamp', 'event_type']);
  });

  it('rejects input that would escape its storage prefix', async () => {
    const { config, workers } = await testStack();
    const run = await runLifecycle(workers.client, config, { dataset: '../serving' }, undefined, `bad-input-${Date.now()}`);
    assert.equal(run.status, 'failed');
    assert.match(run.status === 'failed' ? run.error : '', /dataset/);
  });

  it('fails a null or non-object workflow input at once, named and not retried', async () => {
    const { config, workers } = await testStack();
    for (const input of [null, 'store']) {
      const handle = await workers.client.workflow.start('modelLifecycle', { taskQueue: config.temporal.pipelineTaskQueue, workflowId: `null-input-${Date.now()}-${typeof input}`, args: [input] });
      await assert.rejects(handle.result(), (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError, String(error));
        assert.ok(error.cause instanceof ApplicationFailure, String(error.cause));
        assert.equal(error.cause.type, 'InvalidWorkflowInput');
        assert.equal(error.cause.nonRetryable, true);
        return true;
      });
      const { status, historyLength } = await handle.describe();
      assert.equal(status.name, 'FAILED');
      assert.ok(historyLength < 10, `failed in its first workflow task (${historyLength} events)`);
    }
  });
});
