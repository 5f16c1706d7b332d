import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../ml/backend';
import { trainNextItemModel, makeBatches, trainingMemoryBytes, type Checkpoint } from '../../ml/sequence/train';
import { evaluateRanking, popularityScorer } from '../../ml/sequence/ranking';
import { RecommenderHyperparameters } from '../../ml/sequence/hyperparameters';

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

  for (const [model, softmax] of [['sasrec', 'full'], ['sasrec', 'sampled'], ['gru', 'full']] as const) it(`the memory estimate of ${model} (${softmax} softmax) bounds what training allocates, within 3x`, async () => {
    const items = 400;
    const sequences = Array.from({ length: 256 }, (_, u) => Int32Array.from({ length: 21 }, (_, k) => ((u * 13 + k * 7) % items) + 1));
    const validation = sequences.slice(0, 20).map((s) => ({ history: s.subarray(0, 20), target: s[20] }));
    const hp = RecommenderHyperparameters.parse({ model, softmax, sampledNegatives: 64, epochs: 1, hiddenDim: 48, maxLen: 20, batchSize: 64 });
    let result: Awaited<ReturnType<typeof trainNextItemModel>> | undefined;
    const profile = await tf.profile(async () => {
      result = await trainNextItemModel({ hyperparameters: hp, numItems: items, sequences: sequences.map((s) => s.subarray(0, 20)), validation });
    });
    result!.model.dispose();
    const estimate = trainingMemoryBytes(hp, items);
    assert.ok(estimate >= profile.peakBytes && estimate < 3 * profile.peakBytes, `estimate ${estimate} bytes against a peak of ${profile.peakBytes}`);
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

describe('training checkpoints', () => {
  before(async () => {
    await selectBackend();
  });

  it('resumes from a checkpoint to the same model as an uninterrupted run', async () => {
    const items = 20;
    const sequences = Array.from({ length: 120 }, (_, u) => Int32Array.from({ length: 7 }, (_, k) => ((u * 3 + k) % items) + 1));
    const validation = sequences.slice(0, 40).map((s) => ({ history: s.subarray(0, 6), target: s[6] }));
    const hp = RecommenderHyperparameters.parse({ epochs: 4, patience: 10, hiddenDim: 16, maxLen: 8, batchSize: 32 });
    type Saved = { state: Checkpoint['state']; data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] };
    const saved: Saved[] = [];
    const checkpoints = {
      everySteps: 5,
      everySeconds: 3600,
      save: async (c: Checkpoint) => {
        const { data, specs } = await tf.io.encodeWeights(c.tensors);
        saved.push({ state: c.state, data, specs });
      },
    };
    const full = await trainNextItemModel({ hyperparameters: hp, numItems: items, sequences, validation, checkpoints });
    assert.ok(saved.length >= 3, `${saved.length} checkpoints`);
    const middle = saved[Math.floor(saved.length / 2)];
    const decoded = tf.io.decodeWeights(middle.data, middle.specs);
    const resumed = await trainNextItemModel({
      hyperparameters: hp,
      numItems: items,
      sequences,
      validation,
      resumeFrom: { state: middle.state, tensors: Object.entries(decoded).map(([name, tensor]) => ({ name, tensor })) },
    });
    assert.ok(middle.state.step > 0);
    assert.equal(resumed.steps, full.steps);
    assert.deepEqual(resumed.history.map((h) => h.epoch), full.history.map((h) => h.epoch));
    for (const [name, variable] of full.model.variables) {
      const difference = tf.max(tf.abs(tf.sub(variable, resumed.model.variables.get(name)!))).dataSync()[0];
      assert.ok(difference < 1e-4, `${name} differs by ${difference}`);
    }
    full.model.dispose();
    resumed.model.dispose();
    tf.dispose(Object.values(decoded));
  });
});
