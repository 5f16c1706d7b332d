import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { testStack } from './test-stack';
import { storeloop } from './ops-fixtures';
import {
  applyAliasChange,
  ChampionChangedError,
  planPromotion,
  readChampion,
  readHistory,
  versionPrefix,
  type ChampionAlias,
  type VersionManifest,
} from '../../activities/registry/serving-registry';
import type { ObjectStore } from '../../activities/storage/object-store';

/** A published version as deploy writes it; promote and rollback only need its manifest. */
async function publish(store: ObjectStore, model: string, version: string, ndcg: number): Promise<void> {
  const metrics = { 'hr@10': ndcg * 1.5, 'ndcg@10': ndcg, 'hr@20': ndcg * 2, 'ndcg@20': ndcg * 1.1, users: 100 };
  const manifest = { model, version, kind: 'next-item', createdAt: new Date().toISOString(), primaryMetric: 'ndcg@10', metrics, baseline: metrics, lineage: { workflowId: `run-${version}`, backend: 'test' }, hyperparameters: {} };
  await store.put(`${versionPrefix(model, version)}/manifest.json`, JSON.stringify(manifest as unknown as VersionManifest), 'application/json');
}

describe('registry operations: models list|show|promote|rollback @integration', () => {
  const model = `ops-${Date.now()}-next-item`;
  let raceWinner = '';

  before(async () => {
    const { workers } = await testStack();
    for (const [v, ndcg] of [['v1', 0.2], ['v2', 0.3], ['v3', 0.25]] as const) await publish(workers.store, model, v, ndcg);
  });

  it('promotes through the CLI with who and why in the history, and refuses unknown versions', async () => {
    for (const version of ['v1', 'v2', 'v3']) {
      const promoted = await storeloop('models', 'promote', model, version, '--by', 'alice', '--reason', `try ${version}`, '--json');
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.equal(promoted.json<ChampionAlias>().version, version);
    }
    const unknown = await storeloop('models', 'promote', model, 'v9', '--reason', 'typo');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`storeloop: model ${model} has no version v9`));

    const shown = await storeloop('models', 'show', model, '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const { champion, versions, history } = shown.json<{ champion: ChampionAlias; versions: VersionManifest[]; history: ChampionAlias[] }>();
    assert.equal(champion.version, 'v3');
    assert.deepEqual(versions.map((v) => v.version), ['v1', 'v2', 'v3']);
    assert.deepEqual(history.map((h) => [h.action, h.version, h.previous, h.promotedBy, h.reason]), [
      ['promote', 'v1', null, 'alice', 'try v1'],
      ['promote', 'v2', 'v1', 'alice', 'try v2'],
      ['promote', 'v3', 'v2', 'alice', 'try v3'],
    ]);

    const listed = await storeloop('models', 'list', '--json');
    assert.ok(listed.json<{ models: { model: string; champion: string }[] }>().models.some((m) => m.model === model && m.champion === 'v3'));
    const human = await storeloop('models', 'show', model);
    assert.match(human.stdout, /champion v3 since/);
  });

  it('of two promotions racing from the same champion, exactly one wins and the other fails cleanly', async () => {
    const { workers } = await testStack();
    const before = await readHistory(workers.store, model);
    // Both decide against the same champion (same ETag) before either writes: a true race.
    const plans = await Promise.all([
      planPromotion(workers.store, model, 'v1', { by: 'dave', reason: 'race a' }),
      planPromotion(workers.store, model, 'v2', { by: 'erin', reason: 'race b' }),
    ]);
    const results = await Promise.allSettled(plans.map((plan) => applyAliasChange(workers.store, plan)));
    const winners = results.filter((r): r is PromiseFulfilledResult<ChampionAlias> => r.status === 'fulfilled');
    assert.equal(winners.length, 1);
    const loser = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(loser.reason instanceof ChampionChangedError, String(loser.reason));
    assert.match(loser.reason.message, /changed since it was evaluated \(expected v3\)/);
    assert.equal((await readChampion(workers.store, model))?.alias.version, winners[0].value.version);
    const after = await readHistory(workers.store, model);
    assert.equal(after.length, before.length + 1, 'only the winner is in the history');
    raceWinner = winners[0].value.version;

    // Put v3 back for the rollback test.
    await applyAliasChange(workers.store, await planPromotion(workers.store, model, 'v3', { by: 'test', reason: 'reset' }));
  });

  it('rolls back step by step through earlier champions (CLI and rollbackModel workflow), then refuses', async () => {
    const { config, workers } = await testStack();
    const first = await storeloop('models', 'rollback', model, '--by', 'frank', '--reason', 'v3 hurts conversion', '--json');
    assert.equal(first.code, 0, first.stderr);
    const back = first.json<ChampionAlias & { rolledBackFrom: string }>();
    // Champions so far: v1, v2, v3, the race winner, v3 again: back to the winner, then v3, v2, v1.
    assert.deepEqual([back.action, back.version, back.previous, back.promotedBy, back.reason], ['rollback', raceWinner, 'v3', 'frank', 'v3 hurts conversion']);
    assert.equal(back.rolledBackFrom, 'v3', 'names the version it rolled back from');

    const run = await workers.client.workflow.execute('rollbackModel', {
      taskQueue: config.temporal.pipelineTaskQueue,
      workflowId: `rollback-${model}-${Date.now()}`,
      args: [{ model, by: 'grace', reason: 'further back' }],
    });
    const alias = run as ChampionAlias;
    assert.equal(alias.action, 'rollback');
    assert.deepEqual([alias.version, alias.previous], ['v3', 'v2'], 'the workflow walked one more step back');
    assert.match(alias.promotedBy, /^grace \(workflow rollback-/);
    assert.equal((await readChampion(workers.store, model))?.alias.version, alias.version);

    for (const [from, expected] of [['v3', 'v2'], ['v2', 'v1']]) {
      const step = await storeloop('models', 'rollback', model, '--reason', 'walk back');
      assert.match(step.stdout, new RegExp(`rolled back from ${from} to ${expected},`));
    }
    const refused = await storeloop('models', 'rollback', model, '--reason', 'one too many');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is the first champion of .*; there is nothing to roll back to/);

    await assert.rejects(
      workers.client.workflow.execute('rollbackModel', { taskQueue: config.temporal.pipelineTaskQueue, workflowId: `rollback-bad-${Date.now()}`, args: [{ model: '../etc' }] }),
      (e: Error) => e instanceof WorkflowFailedError && /model "..\/etc" must be <dataset>-<kind>/.test(String(e.cause?.message)),
    );
  });
});
