/**
 * Stored data is verified on read: a corrupt content-addressed object fails the step that
 * reads it with a named, non-retryable error (key, expected and actual hash), and the step
 * that wrote it repairs it when it runs again.
 */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { testStack, log } from './test-stack';
import { createActivities } from '../../activities';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { contentHashOf } from '../../activities/storage/object-store';
import { sha256Hex } from '../../schemas/artifacts';
import { ensureSyntheticData } from '../../sources/import';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { DatasetSnapshot, SourceState, StepContext } from '../../schemas/steps';

/** Flips one bit in the middle of a stored object, keeping its size (what a bad disk or a stray write does). */
async function flipABit(store: ObjectStore, key: string): Promise<void> {
  const bytes = Uint8Array.from(await store.getBytes(key));
  bytes[Math.floor(bytes.length / 2)] ^= 0x10;
  await store.put(key, bytes);
}

function assertIntegrityFailure(error: unknown, key: string): boolean {
  assert.ok(error instanceof ApplicationFailure, String(error));
  assert.equal(error.type, 'IntegrityError');
  assert.equal(error.nonRetryable, true, 'retrying cannot fix corrupt data');
  assert.ok(error.message.includes(key), error.message);
  assert.ok(error.message.includes(`expected ${contentHashOf(key)}`), error.message);
  assert.match(error.message, /hashes to sha256 [0-9a-f]{64}/);
  return true;
}

describe('integrity of stored data @integration', () => {
  it('a corrupt partition or artifact fails its reader by name; the writing step repairs an artifact when it runs again', async () => {
    const { workers } = await testStack();
    const { store } = workers;
    const dataset = 'integrity';
    await ensureSyntheticData(store, dataset, nextItemKind, syntheticStoreFiles({ seed: 5, users: 200, items: 40, categories: 4, days: 14, endDate: '2026-11-01' }));
    const ctx = (force: boolean): StepContext => ({ config: parseLifecycleInput({ dataset, force }), workflowId: 'integrity-test', runId: 'r', startedAt: '2026-11-02T02:00:00.000Z' });
    const activities = createActivities({ store, log });
    const collected = await activities.collect(ctx(false));
    const prepared = await activities.preprocess(ctx(false), collected);

    // A partition collect wrote: preprocess refuses it instead of training on what it decodes to.
    const partition = (await store.list(`datasets/${dataset}/events/`)).find((o) => contentHashOf(o.key))!.key;
    const good = await store.getBytes(partition);
    await flipABit(store, partition);
    await assert.rejects(activities.preprocess(ctx(true), collected), (error) => assertIntegrityFailure(error, partition));
    await store.put(partition, good);

    // An artifact preprocess wrote: its reader fails; preprocess, run again, writes it whole.
    const artifact = prepared.artifacts.sequences;
    await flipABit(store, artifact.key);
    await assert.rejects(activities.train({ ...ctx(false), config: { ...ctx(false).config, hyperparameters: { epochs: 1 } } }, prepared), (error) => assertIntegrityFailure(error, artifact.key));
    const again = await activities.preprocess(ctx(true), collected);
    assert.equal(again.artifacts.sequences.key, artifact.key, 'the same content, the same key');
    assert.equal(sha256Hex(await store.getBytes(artifact.key)), artifact.sha256, 'the stored artifact is whole again');
  });

  it('a raw file uploaded again with corrected content replaces the rows it brought before, and the state keeps the earlier version', async () => {
    const { workers } = await testStack();
    const { store } = workers;
    const dataset = 'reupload';
    const uploaded = (await ensureSyntheticData(store, dataset, nextItemKind, syntheticStoreFiles({ seed: 9, users: 150, items: 30, categories: 3, days: 10, endDate: '2026-11-01' })))!;
    const ctx: StepContext = { config: parseLifecycleInput({ dataset }), workflowId: 'reupload-test', runId: 'r', startedAt: '2026-11-02T02:00:00.000Z' };
    const activities = createActivities({ store, log });
    const first = await activities.collect(ctx);
    assert.equal(first.totalRows, uploaded.rows);

    // The producer fixes one file: it drops a third of its rows.
    const key = uploaded.keys[0];
    const lines = Buffer.from(await store.getBytes(key)).toString('utf8').trim().split('\n');
    const kept = [lines[0], ...lines.slice(1).filter((_, i) => i % 3 !== 0)];
    await store.put(key, `${kept.join('\n')}\n`, 'text/csv');
    const second = await activities.collect(ctx);
    assert.deepEqual(second.replacedFiles, [key]);
    assert.deepEqual(second.newFiles, []);
    assert.equal(second.totalRows, uploaded.rows! - (lines.length - kept.length), 'the old rows are gone, the corrected ones counted once');

    const snapshot = await store.getJson<DatasetSnapshot>(second.snapshot.key);
    const rowsInPartitions = snapshot.sources.events.partitions.reduce((n, p) => n + (p.rows ?? 0), 0);
    assert.equal(rowsInPartitions, second.totalRows, 'the partitions hold exactly the rows the state counts');
    const state = await store.getJson<SourceState>(`state/${dataset}/events/collect.json`);
    assert.equal(state.replacedFiles?.length, 1);
    assert.equal(state.replacedFiles![0].key, key);
    assert.equal(state.replacedFiles![0].rows, lines.length - 1, 'the audit trail keeps what the earlier version brought');
    assert.equal((await activities.collect(ctx)).replacedFiles?.length, 0, 'collecting again replaces nothing');
  });
});
