import assert from 'node:assert/strict';
import { testStack, log } from './test-stack';
import { collectSources } from '../../activities/collect/collect';
import { readTable } from '../../activities/storage/arrow-io';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { CollectResult, DatasetSnapshot } from '../../schemas/steps';

const STORE = { seed: 51, users: 300, items: 60, categories: 5, days: 21, endDate: '2026-11-01' };

/** Every row of a collected snapshot as a sorted list of JSON lines, and each partition's size. */
async function collectedRows(store: ObjectStore, collected: CollectResult) {
  const snapshot = await store.getJson<DatasetSnapshot>(collected.snapshot.key);
  const rows: string[] = [];
  const sizes: number[] = [];
  for (const partition of snapshot.sources.events.partitions) {
    const table = await readTable(store, partition.key);
    sizes.push(table.numRows);
    const date = /date=(\d{4}-\d{2}-\d{2})\//.exec(partition.key)![1];
    for (const row of table) {
      assert.equal(new Date(Number(row.timestamp)).toISOString().slice(0, 10), date, `${partition.key} holds a row of another day`);
      rows.push(JSON.stringify(row.toJSON(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    }
  }
  return { rows: rows.sort(), sizes, keys: snapshot.sources.events.partitions.map((p) => p.key) };
}

describe('collect streams files larger than its row buffer @integration', () => {
  it('writes a big file as bounded partitions holding exactly the rows of an unbounded collect, the same ones on a retry', async () => {
    const { workers } = await testStack();
    const { store } = workers;
    const uploaded = (await ensureSyntheticData(store, 'streamed-small-buffer', nextItemKind, syntheticStoreFiles(STORE)))!;
    await ensureSyntheticData(store, 'streamed-default-buffer', nextItemKind, syntheticStoreFiles(STORE));

    const bounded = await collectSources(store, log, { dataset: 'streamed-small-buffer', sources: nextItemKind.sources, maxBadRowFraction: 0, maxBufferedRows: 100 });
    const reported: number[] = [];
    const unbounded = await collectSources(store, log, { dataset: 'streamed-default-buffer', sources: nextItemKind.sources, maxBadRowFraction: 0, onProgress: (rows) => reported.push(rows) });
    const small = await collectedRows(store, bounded);
    const whole = await collectedRows(store, unbounded);
    assert.equal(small.rows.length, uploaded.rows);
    assert.deepEqual(small.rows, whole.rows, 'flushing early loses, adds or changes no row');
    assert.ok(Math.max(...small.sizes) <= 100, `partition sizes ${small.sizes.join(', ')}`);
    assert.ok(small.keys.length > whole.keys.length, 'the small buffer was flushed before the files ended');
    assert.ok(reported.length >= uploaded.keys.length, `progress after every file at least: ${reported.join(', ')}`);
    assert.deepEqual(reported, [...reported].sort((a, b) => a - b), 'the count only grows');
    assert.equal(reported.at(-1), unbounded.rowsImported, 'the last report counts every imported row');

    // A retry from scratch (the watermark lost) writes the very same partitions.
    await store.deletePrefix('state/streamed-small-buffer/');
    const retried = await collectSources(store, log, { dataset: 'streamed-small-buffer', sources: nextItemKind.sources, maxBadRowFraction: 0, maxBufferedRows: 100 });
    assert.deepEqual((await collectedRows(store, retried)).keys, small.keys);
    assert.equal((await store.list('datasets/streamed-small-buffer/events/')).length, new Set(small.keys).size, 'no extra partition objects');
  });
});
