import assert from 'node:assert/strict';
import { eventsSource } from '../../activities/model-kinds/next-item/sources';
import { testStack } from './test-stack';
import { ObjectStore, PreconditionFailedError, StorageUnavailableError } from '../../activities/storage/object-store';
import { putTable, readTable } from '../../activities/storage/arrow-io';
import { sweepOrphanCheckpoints } from '../../activities/storage/checkpoints';
import { rowsToArrowBytes } from '../../activities/collect/collect';
import { tableFromIPC } from 'apache-arrow';
import { swapChampion, readChampion, ChampionChangedError } from '../../activities/registry/serving-registry';

describe('object storage on the real S3 gateway @integration', () => {
  it('an outage longer than the tolerance ends in StorageUnavailableError, naming the endpoint, after waiting it out', async () => {
    const { config } = await testStack();
    // A port nothing listens on: connection refused, as while the gateway is down.
    const unreachable = new ObjectStore({ ...config.s3, endpoint: 'http://127.0.0.1:9', outageToleranceSeconds: 4 });
    const started = Date.now();
    await assert.rejects(unreachable.head('anything'), (error: Error) => {
      assert.ok(error instanceof StorageUnavailableError, String(error));
      assert.match(error.message, /^S3 at http:\/\/127\.0\.0\.1:9 was unreachable for \d+ s \(STORELOOP_STORAGE_OUTAGE_SECONDS\)/);
      return true;
    });
    const waited = Date.now() - started;
    assert.ok(waited >= 2_000 && waited < 10_000, `waited ${waited} ms for a 4 s tolerance`);
    unreachable.client.destroy();
  });

  it('writes content-addressed artifacts once and reads them back as Arrow', async () => {
    const { workers } = await testStack();
    const store = workers.store;
    const table = tableFromIPC(rowsToArrowBytes(eventsSource, [{ user_id: 'u', item_id: 'i', event_type: 'view', timestamp: 1.7e12, session_id: null, price: 1.5, category: null }]));
    const first = await putTable(store, 'test/artifacts', table);
    const again = await putTable(store, 'test/artifacts', table);
    assert.deepEqual(again, first, 'a retried write returns the same reference');
    assert.equal(first.rows, 1);
    const back = await readTable(store, first.key);
    assert.equal(back.get(0)?.item_id, 'i');
    assert.equal((await store.list('test/artifacts/')).length, 1);
  });

  it('sweeps the checkpoints of attempts that stopped writing long ago, never the caller\'s own or a recent one', async () => {
    const { workers } = await testStack();
    const store = workers.store;
    const root = 'checkpoints/sweep-test';
    const keys = ['terminated/run/1/step-00000008', 'terminated/run/1/step-00000016', 'lost/run/3/step-00000002', 'mine/run/1/step-00000004'].flatMap((k) => [`${root}/${k}.bin`, `${root}/${k}.json`]);
    for (const key of keys) await store.put(key, 'x');
    assert.equal(await sweepOrphanCheckpoints(store, 'sweep-test', `${root}/mine/run/1`, 3600_000), 0, 'nothing is an hour old yet');
    // Two hours on: every attempt but the caller's has been silent for longer than the bound.
    assert.equal(await sweepOrphanCheckpoints(store, 'sweep-test', `${root}/mine/run/1`, 3600_000, Date.now() + 2 * 3600_000), 6);
    assert.deepEqual((await store.list(`${root}/`)).map((o) => o.key), [`${root}/mine/run/1/step-00000004.bin`, `${root}/mine/run/1/step-00000004.json`]);
  });

  it('lets exactly one of many racing promotions win, for the first champion and for a swap', async () => {
    // Conditional writes are the registry's only lock, so the gateway must evaluate the
    // precondition and publish atomically (Versity's posix backend did not before v1.8.0, PR #2288:
    // several of eight concurrent writers could all win). Eight writers, twenty rounds, make a
    // check-then-act gateway fail here rather than once in a while.
    const { workers } = await testStack();
    const store = workers.store;
    const model = `race-${Date.now()}`;
    const alias = (version: string) => ({ model, version, promotedAt: new Date().toISOString(), promotedBy: 'test', reason: 'race', previous: null, action: 'promote' as const });
    let expected: Awaited<ReturnType<typeof readChampion>> = null;
    for (let round = 0; round < 20; round++) {
      const versions = Array.from({ length: 8 }, (_, i) => `r${round}-${i}`);
      const results = await Promise.allSettled(versions.map((v) => swapChampion(store, alias(v), expected?.ref ?? null)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: winners`);
      for (const loser of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) assert.ok(loser.reason instanceof ChampionChangedError, String(loser.reason));
      expected = await readChampion(store, model);
      assert.ok(expected && versions.includes(expected.alias.version));
    }
    await assert.rejects(store.putIfMatch(`serving/${model}/champion.json`, '{}', '"stale-etag"'), PreconditionFailedError);
  });
});
