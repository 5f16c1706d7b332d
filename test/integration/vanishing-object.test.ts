import assert from 'node:assert/strict';
import { testStack, log } from './test-stack';
import { createActivities } from '../../activities';
import { rawPrefix } from '../../activities/collect/collect';
import { ObjectStore, type StoredObject } from '../../activities/storage/object-store';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { syntheticStoreFiles } from '../../activities/model-kinds/next-item/synthetic';
import { ensureSyntheticData } from '../../sources/import';
import { type S3Config } from '../../infra/config';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import type { SourceState, StepContext } from '../../schemas/steps';

/**
 * Fault injection on the real S3 gateway: the first listing of the raw events prefix
 * is followed at once by a real delete of one listed object, as when a producer or a
 * lifecycle rule removes a file while collect runs.
 */
class StoreThatLosesAFileAfterListing extends ObjectStore {
  private armed = true;

  constructor(
    config: S3Config,
    private readonly victim: string,
  ) {
    super(config);
  }

  override async list(prefix: string): Promise<StoredObject[]> {
    const listed = await super.list(prefix);
    if (this.armed && this.victim.startsWith(prefix)) {
      this.armed = false;
      await this.deletePrefix(this.victim);
    }
    return listed;
  }
}

describe('an object that disappears between listing and reading @integration', () => {
  it('collect imports the other files, reports the vanished one, and imports it when it comes back', async () => {
    const { config, workers } = await testStack();
    const dataset = 'vanishing';
    const uploaded = (await ensureSyntheticData(workers.store, dataset, nextItemKind, syntheticStoreFiles({ seed: 31, users: 300, items: 60, categories: 5, days: 21, endDate: '2026-11-01' })))!;
    const victim = uploaded.keys[1];
    const victimBytes = await workers.store.getBytes(victim);
    const victimRows = Buffer.from(victimBytes).toString('utf8').trim().split('\n').length - 1;
    const ctx: StepContext = { config: parseLifecycleInput({ dataset }), workflowId: 'vanishing-test', runId: 'run-1', startedAt: '2026-11-02T02:00:00.000Z' };

    const faulty = new StoreThatLosesAFileAfterListing(config.s3, victim);
    const collected = await createActivities({ store: faulty, log }).collect(ctx);
    faulty.client.destroy();
    assert.deepEqual(collected.vanishedFiles, [victim]);
    assert.deepEqual(collected.newFiles, uploaded.keys.filter((k) => k !== victim));
    assert.equal(collected.rowsImported, uploaded.rows! - victimRows, 'every row of the files that stayed is imported');
    const state = await workers.store.getJson<SourceState>(`state/${dataset}/events/collect.json`);
    assert.ok(!state.ingestedFiles.some((f) => f.key === victim), 'a vanished file is not marked as ingested');

    // The producer uploads it again: the next collect imports exactly that file.
    await workers.store.put(victim, victimBytes, 'text/csv');
    const again = await createActivities({ store: workers.store, log }).collect(ctx);
    assert.deepEqual(again.newFiles, [victim]);
    assert.deepEqual(again.vanishedFiles, []);
    assert.equal(again.rowsImported, victimRows);
    assert.equal(again.totalRows, uploaded.rows, 'nothing lost, nothing doubled');
    assert.equal((await workers.store.list(rawPrefix(dataset, 'events'))).length, uploaded.keys.length);
  });
});
