/**
 * Checks, against what is really in S3, that a finished lifecycle run lost nothing and
 * wrote nothing twice: every content-addressed object matches its hash, the dataset's
 * partitions hold exactly the rows that were uploaded, each step left exactly one output,
 * and every artifact the run summary and the serving manifest point at exists with the
 * recorded hash. Used by the fault-injection tests after a run survived something.
 */
import assert from 'node:assert/strict';
import { readTable } from '../../activities/storage/arrow-io';
import { readChampion, readHistory, readVersionManifest, versionPrefix } from '../../activities/registry/serving-registry';
import { sha256Hex } from '../../schemas/artifacts';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { SourceState } from '../../schemas/steps';
import type { LifecycleSummary } from '../../schemas/summary';

const CONTENT_ADDRESSED = /\/([0-9a-f]{64})\.(arrow|json)$/;

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  return (await store.list(prefix)).map((o) => o.key);
}

async function assertHashMatches(store: ObjectStore, key: string, sha256: string): Promise<void> {
  assert.equal(sha256Hex(await store.getBytes(key)), sha256, `${key} does not hash to ${sha256}`);
}

/** `uploadedRows`: events uploaded under raw/<dataset>/events/ (all valid). */
export async function assertRunLostNothing(store: ObjectStore, dataset: string, summary: LifecycleSummary, uploadedRows: number): Promise<void> {
  const datasetKeys = await keysUnder(store, `datasets/${dataset}/`);
  const artifactKeys = await keysUnder(store, `artifacts/${dataset}/`);
  const reportKeys = await keysUnder(store, `reports/${summary.model}/`);
  for (const key of [...datasetKeys, ...artifactKeys, ...reportKeys]) {
    const named = CONTENT_ADDRESSED.exec(key);
    if (named) await assertHashMatches(store, key, named[1]);
  }

  // The watermark's partitions are exactly the stored ones, and together hold every uploaded row once.
  const state = await store.getJson<SourceState>(`state/${dataset}/events/collect.json`);
  const stored = datasetKeys.filter((k) => k.startsWith(`datasets/${dataset}/events/`));
  assert.deepEqual(state.partitions.map((p) => p.key).sort(), stored, 'partitions on disk differ from the snapshot');
  let rows = 0;
  for (const key of stored) rows += (await readTable(store, key)).numRows;
  assert.equal(rows, uploadedRows, 'rows in the partitions');
  assert.equal(summary.data.totalRows, uploadedRows);

  // One output per step: a retried step rewrote the same object instead of adding another.
  const one = (keys: string[], what: string) => assert.equal(keys.length, 1, `${what}: ${keys.join(', ')}`);
  one(datasetKeys.filter((k) => k.startsWith(`datasets/${dataset}/snapshots/`)), 'snapshots');
  const artifacts = `artifacts/${dataset}/${summary.kind}`;
  one(artifactKeys.filter((k) => k.startsWith(`${artifacts}/sequences/`)), 'sequences');
  one(artifactKeys.filter((k) => k.startsWith(`${artifacts}/vocabulary/`)), 'vocabularies');
  const models = artifactKeys.filter((k) => k.startsWith(`${artifacts}/models/`));
  assert.equal(models.length, 2, `one model bundle (model.json + weights.bin): ${models.join(', ')}`);
  one(reportKeys.filter((k) => CONTENT_ADDRESSED.test(k)), 'evaluation reports');
  assert.ok(reportKeys.includes(store.keyOf(summary.runReport)), `the run report ${summary.runReport}`);
  assert.deepEqual(await keysUnder(store, `checkpoints/${dataset}/`), [], 'checkpoints are removed once the model is saved');

  // What the run says it published is there, byte for byte.
  assert.equal(summary.promoted, true, summary.reasons.join('; '));
  await assertHashMatches(store, store.keyOf(summary.report), CONTENT_ADDRESSED.exec(summary.report)![1]);
  const live = await readChampion(store, summary.model);
  assert.equal(live?.alias.version, summary.version);
  const versions = new Set((await keysUnder(store, `serving/${summary.model}/versions/`)).map((k) => k.split('/')[3]));
  assert.deepEqual([...versions], [summary.version], 'one published version');
  assert.equal((await readHistory(store, summary.model)).length, 1, 'promoted once');
  const manifest = await readVersionManifest(store, summary.model, summary.version!);
  for (const uri of [manifest.lineage.snapshot, manifest.lineage.artifacts.sequences, manifest.lineage.artifacts.vocabulary]) {
    await assertHashMatches(store, store.keyOf(uri), CONTENT_ADDRESSED.exec(uri)![1]);
  }
  await assertHashMatches(store, `${versionPrefix(summary.model, summary.version!)}/weights.bin`, manifest.lineage.weightsSha256);
  assert.ok(models.includes(`${artifacts}/models/${manifest.lineage.weightsSha256}/weights.bin`), 'the served weights are the trained ones');
}
