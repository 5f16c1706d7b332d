import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../ml/backend';
import { trainNextItemModel, makeBatches } from '../../ml/train';
import { evaluateRanking, popularityScorer } from '../../ml/ranking';
import { RecommenderHyperparameters } from '../../schemas/lifecycle-input';

describe('next-item model training', function () {
  before(async () => {
    await selectBackend();
  });

  it('batches by length and pads on the left', () => {
    const batches = makeBatches([Int32Array.from([1, 2, 3]), Int32Array.from([4, 5]), Int32Array.from([6])], 10, 8);
    assert.equal(batches.length, 1);
    assert.equal(batches[0].length, 2);
    assert.deepEqual([...batches[0].inputs], [0, 4, 1, 2]);
    assert.deepEqual([...batches[0].targets], [0, 5, 2, 3]);
  });

  for (const model of ['sasrec', 'gru'] as const) it(`${model} learns a sequential pattern that popularity cannot, without leaking tensors`, async () => {
    // Each user walks a cycle over 30 items from a random start: the next item is
    // fully determined by the current one, while every item is equally popular.
    const items = 30;
    const sequences = Array.from({ length: 300 }, (_, u) => Int32Array.from({ length: 8 }, (_, k) => ((u * 7 + k) % items) + 1));
    const validation = sequences.map((s) => ({ history: s.subarray(0, 7), target: s[7] }));
    const hp = RecommenderHyperparameters.parse({ model, epochs: 15, patience: 15, hiddenDim: 32, maxLen: 10, batchSize: 64, dropout: 0.1, learningRate: 0.005 });
    const before = tf.memory().numTensors;
    const result = await trainNextItemModel({ hyperparameters: hp, numItems: items, sequences: sequences.map((s) => s.subarray(0, 7)), validation });
    const learned = await evaluateRanking(validation, items + 1, (h) => result.model.scoreNext(h));
    const counts = new Float32Array(items + 1).fill(1);
    counts[0] = -Infinity;
    const popularity = await evaluateRanking(validation, items + 1, popularityScorer(counts));
    assert.ok(learned['hr@10'] > 0.9, `SASRec HR@10 ${learned['hr@10']}`);
    assert.ok(popularity['hr@10'] < 0.5, `popularity HR@10 ${popularity['hr@10']}`);
    assert.ok(result.history[result.history.length - 1].loss < result.history[0].loss);
    result.model.dispose();
    assert.equal(tf.memory().numTensors, before, 'training leaked tensors');
  });
});
