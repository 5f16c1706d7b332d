import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { PreconditionFailedError } from '../../activities/storage/object-store';
import { putTable, readTable } from '../../activities/storage/arrow-io';
import { eventsToArrowBytes } from '../../activities/collect/collect';
import { tableFromIPC } from 'apache-arrow';
import { swapChampion, readChampion, ChampionChangedError } from '../../activities/registry/serving-registry';

describe('object storage on the real S3 gateway @integration', () => {
  it('writes content-addressed artifacts once and reads them back as Arrow', async () => {
    const { workers } = await testStack();
    const store = workers.store;
    const table = tableFromIPC(eventsToArrowBytes([{ user_id: 'u', item_id: 'i', event_type: 'view', timestamp: 1.7e12, session_id: null, price: 1.5, category: null }]));
    const first = await putTable(store, 'test/artifacts', table);
    const again = await putTable(store, 'test/artifacts', table);
    assert.deepEqual(again, first, 'a retried write returns the same reference');
    assert.equal(first.rows, 1);
    const back = await readTable(store, first.key);
    assert.equal(back.get(0)?.item_id, 'i');
    assert.equal((await store.list('test/artifacts/')).length, 1);
  });

  it('lets exactly one of two racing promotions win', async () => {
    const { workers } = await testStack();
    const store = workers.store;
    const model = `race-${Date.now()}`;
    const alias = (version: string) => ({ model, version, promotedAt: new Date().toISOString(), promotedBy: 'test', reason: 'race', previous: null, action: 'promote' as const });
    const results = await Promise.allSettled([swapChampion(store, alias('a'), null), swapChampion(store, alias('b'), null)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(loser.reason instanceof ChampionChangedError, String(loser.reason));
    const live = await readChampion(store, model);
    assert.ok(live && ['a', 'b'].includes(live.alias.version));
    await assert.rejects(store.putIfMatch(`serving/${model}/champion.json`, '{}', '"stale-etag"'), PreconditionFailedError);
  });
});
