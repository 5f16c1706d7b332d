import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Table } from 'apache-arrow';
import { DynamicBatcher } from '../../serving/batcher';
import { ServedVersion } from '../../serving/champion-watcher';
import { createNextItemModel } from '../../ml/sequence/models';
import { LoadedRecommender, precomputeTopItems } from '../../activities/model-kinds/next-item/serving';
import { PRECOMPUTED_K, TOP_ITEMS, precomputedAnswers } from '../../activities/model-kinds/next-item/precomputed';
import { sequencesTable, vocabularyTable, type SequenceDataset } from '../../activities/model-kinds/next-item/sequences';
import type { NextItemModel, NextItemModelConfig } from '../../ml/sequence/next-item-model';
import type { KindRuntime } from '../../activities/model-kinds/contract';
import type { VersionManifest } from '../../activities/registry/serving-registry';

const CONFIG: NextItemModelConfig = { architecture: 'sasrec', numItems: 40, maxLen: 8, hiddenDim: 16, blocks: 1, heads: 1, dropout: 0, seed: 7 };

/** Histories of different lengths, some longer than maxLen (the model reads their last maxLen items). */
const HISTORIES = [[1], [2, 3], [4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15, 16, 17], [18, 3], [20, 21, 22], [5], [30, 31, 32, 33, 34, 35]].map((h) => Int32Array.from(h));

/** The model's scores of each history, split per history: what a kind hands the batcher. */
function scoreEachWith(model: NextItemModel, calls: number[] = []) {
  return async (histories: Int32Array[]): Promise<Float32Array[]> => {
    calls.push(histories.length);
    const scores = await model.scoreNext(histories);
    const width = scores.length / histories.length;
    return histories.map((_, row) => scores.slice(row * width, (row + 1) * width));
  };
}

/**
 * Batched and single scoring agree to float rounding: a native backend picks other kernels for
 * other batch sizes (the JavaScript backend is exact). Any other request's scores differ by far more.
 */
const ROUNDING = 1e-5;
function assertSameScores(actual: ArrayLike<number>, expected: ArrayLike<number>, message?: string): void {
  assert.equal(actual.length, expected.length, message);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= ROUNDING, `${message ?? 'scores'}: differ by ${worst}`);
}

/** The same list to rounding: items may trade places only where their scores tie to rounding. */
function assertSameRanking(actual: { item_id: string; score: number }[], expected: { item_id: string; score: number }[], message: string): void {
  assertSameScores(actual.map((i) => i.score), expected.map((i) => i.score), message);
  actual.forEach((item, i) => {
    if (item.item_id === expected[i].item_id) return;
    const tied = [actual[i - 1], actual[i + 1]].some((other) => other && Math.abs(other.score - item.score) <= ROUNDING);
    assert.ok(tied, `${message}: ${item.item_id} at ${i} where ${expected[i].item_id} was expected, without a tie`);
  });
}

describe('serving: dynamic batching', () => {
  let model: NextItemModel;
  let alone: Float32Array[];

  before(async () => {
    model = createNextItemModel(CONFIG);
    alone = [];
    for (const history of HISTORIES) alone.push(await model.scoreNext([history]));
  });

  after(() => model.dispose());

  it('scores the requests of one window in one model call, each answered with its unbatched scores, in its own order', async () => {
    const calls: number[] = [];
    const batcher = new DynamicBatcher(scoreEachWith(model, calls), { maxBatch: 64, windowMs: 20 });
    // Arrivals spread over the window, not in one turn of the event loop.
    const answers: Promise<Float32Array>[] = [];
    for (const [i, history] of HISTORIES.entries()) {
      answers.push(batcher.score(history));
      if (i % 3 === 2) await new Promise((resolve) => setImmediate(resolve));
    }
    const scores = await Promise.all(answers);
    assert.deepEqual(calls, [HISTORIES.length], 'one model call for the whole window');
    scores.forEach((row, i) => assertSameScores(row, alone[i], `request ${i} got its own scores`));
  });

  it('starts a call as soon as maxBatch inputs wait, and scores what arrived meanwhile next, without a new window', async () => {
    const calls: number[] = [];
    // A window far longer than the test: only a full batch, or the end of the previous call, can start a call.
    const batcher = new DynamicBatcher(scoreEachWith(model, calls), { maxBatch: 3, windowMs: 3_600_000 });
    const answers = HISTORIES.slice(0, 5).map((history) => batcher.score(history));
    assert.deepEqual(calls, [3], 'the full batch went at once');
    const scores = await Promise.all(answers);
    assert.deepEqual(calls, [3, 2]);
    scores.forEach((row, i) => assertSameScores(row, alone[i]));
  });

  it('with maxBatch 1 scores each request in its own call, as the unbatched path does', async () => {
    const calls: number[] = [];
    const batcher = new DynamicBatcher(scoreEachWith(model, calls), { maxBatch: 1, windowMs: 2 });
    const scores = await Promise.all(HISTORIES.slice(0, 3).map((history) => batcher.score(history)));
    assert.deepEqual(calls, [1, 1, 1]);
    scores.forEach((row, i) => assertSameScores(row, alone[i]));
  });

  it('fails only the request whose input the model refuses; the others of its batch get their scores', async () => {
    const calls: number[] = [];
    const score = scoreEachWith(model, calls);
    const batcher = new DynamicBatcher(
      async (histories: Int32Array[]) => {
        if (histories.some((h) => h.some((item) => item > CONFIG.numItems))) throw new RangeError(`item out of the vocabulary in a batch of ${histories.length}`);
        return score(histories);
      },
      { maxBatch: 64, windowMs: 5 },
    );
    const bad = Int32Array.from([3, CONFIG.numItems + 5]);
    const settled = await Promise.allSettled([batcher.score(HISTORIES[0]), batcher.score(bad), batcher.score(HISTORIES[2])]);
    assert.equal(settled[0].status, 'fulfilled');
    assert.equal(settled[2].status, 'fulfilled');
    assertSameScores((settled[0] as PromiseFulfilledResult<Float32Array>).value, alone[0]);
    assertSameScores((settled[2] as PromiseFulfilledResult<Float32Array>).value, alone[2]);
    assert.equal(settled[1].status, 'rejected');
    assert.match(String((settled[1] as PromiseRejectedResult).reason), /batch of 1$/, 'its error is that of its own call');
    assert.deepEqual(calls, [1, 1], 'after the failed batch, the others were scored alone');
  });

  it('keeps a retired version alive until its pending batch is scored, by that version alone', async () => {
    const other = createNextItemModel({ ...CONFIG, seed: 8 });
    const disposed: string[] = [];
    const version = (name: string, net: NextItemModel, calls: number[]) => {
      const batcher = new DynamicBatcher(scoreEachWith(net, calls), { maxBatch: 64, windowMs: 20 });
      return new ServedVersion({ version: name } as VersionManifest, { net, score: (h: Int32Array) => batcher.score(h) }, () => {
        disposed.push(name);
        net.dispose();
      });
    };
    const oldCalls: number[] = [];
    const newCalls: number[] = [];
    const old = version('v1', model, oldCalls);
    const next = version('v2', other, newCalls);
    // A request leases the live version for as long as it runs, as ServingHost.serve does.
    const lease = old.acquire();
    const pending = lease.loaded.score(HISTORIES[3]);
    old.retire(); // the swap, while the batch is still waiting for its window
    const afterSwap = next.acquire();
    const onNew = afterSwap.loaded.score(HISTORIES[3]);
    assert.deepEqual(disposed, [], 'not disposed under a pending batch');
    const [oldScores, newScores] = await Promise.all([pending, onNew]);
    assertSameScores(oldScores, alone[3], 'scored by the old version');
    assertSameScores(newScores, await other.scoreNext([HISTORIES[3]]), 'the new version scored its own request');
    assert.deepEqual([oldCalls, newCalls], [[1], [1]], 'no batch mixed the two versions');
    lease.release();
    assert.deepEqual(disposed, ['v1'], 'disposed once its last request is done');
    afterSwap.release();
    next.retire();
    model = createNextItemModel(CONFIG); // the suite's model went with v1
  });
});

/** What precompute needs of a kind runtime: artifacts in, one table out. */
function memoryRuntime(tables: Map<string, Table>): KindRuntime {
  return {
    readTable: async (key: string) => tables.get(key)!,
    putTable: async (name: string, table: Table) => {
      tables.set(name, table);
      return { key: name, uri: name, sha256: '0'.repeat(64), format: 'arrow', rows: table.numRows };
    },
    heartbeat: () => undefined,
    log: { info: () => undefined },
  } as unknown as KindRuntime;
}

describe('serving: precomputed answers for known users', () => {
  const data: SequenceDataset = {
    itemIds: Array.from({ length: CONFIG.numItems }, (_, i) => `item-${i + 1}`),
    itemCounts: Array.from({ length: CONFIG.numItems }, (_, i) => (i * 7) % 11),
    userIds: HISTORIES.map((_, i) => `user-${i}`),
    sequences: HISTORIES,
  };
  const histories = new Map(data.userIds.map((user, i) => [user, data.sequences[i]]));
  let model: NextItemModel;
  let tables: Map<string, Table>;

  before(async () => {
    model = createNextItemModel(CONFIG);
    tables = new Map([
      ['vocabulary', vocabularyTable(data)],
      ['sequences', sequencesTable(data)],
    ]);
    const tensors = Object.fromEntries(Object.entries(model.namedWeights()).map(([name, tensor]) => [name, tf.clone(tensor)]));
    await precomputeTopItems(memoryRuntime(tables), { bundle: { config: { ...CONFIG }, tensors, weightsSha256: 'weights-a', metadata: {} }, artifactKey: (name) => name });
  });

  after(() => model.dispose());

  const recommender = (precomputed: boolean) => {
    const score = async (history: Int32Array) => model.scoreNext([history]);
    return new LoadedRecommender(model, data.itemIds, data.itemCounts, histories, score, precomputed ? precomputedAnswers(tables.get(TOP_ITEMS)!, 'weights-a') : undefined);
  };

  it('answers a user without new events from the table deploy wrote: the list online scoring gives', async () => {
    const served = recommender(true);
    const online = recommender(false);
    assert.equal(served.precomputedUsers, HISTORIES.length);
    for (const user of data.userIds) {
      const answer = await served.recommendUser(user, [], 10);
      assert.equal(answer.path, 'precomputed');
      const scored = await online.recommendUser(user, [], 10);
      assert.equal(scored.path, 'online', 'a version published without the table scores online');
      // Precomputed in batches, scored online alone: the same list to rounding.
      assertSameRanking(answer.items, scored.items, user);
    }
  });

  it('scores a user with new events since online, and a request for more than it kept', async () => {
    const served = recommender(true);
    const clicked = ['item-39', 'item-12'];
    const answer = await served.recommendUser('user-2', clicked, 10);
    assert.equal(answer.path, 'online');
    assert.deepEqual(answer, { ...(await served.recommend(served.historyOf('user-2', served.encode(clicked).indices), 10)), path: 'online' });
    assert.ok(!answer.items.some((i) => clicked.includes(i.item_id)), 'what the user just clicked is part of the history, so not recommended');
    assert.notDeepEqual(answer.items, (await served.recommendUser('user-2', [], 10)).items);
    assert.equal((await served.recommendUser('user-2', [], PRECOMPUTED_K + 1)).path, 'online');
    assert.equal((await served.recommendUser('stranger', [], 5)).strategy, 'popular');
  });

  it('refuses a table computed with other weights than the version\'s', () => {
    assert.throws(() => precomputedAnswers(tables.get(TOP_ITEMS)!, 'weights-b'), /computed with weights weights-a, not this version's weights-b/);
  });
});
