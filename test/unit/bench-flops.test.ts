import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { forwardFlopsPerPosition, outputCandidates, stepPlan, trainingFlopsPerStep } from '../../bench/training';
import { makeBatches, trainNextItemModel, useSampledSoftmax } from '../../ml/train';
import { seededRng } from '../../ml/random';
import { RecommenderHyperparameters } from '../../schemas/lifecycle-input';

describe('bench:training FLOP model and step plan', () => {
  it('counts the default SASRec step analytically', () => {
    const hp = RecommenderHyperparameters.parse({});
    const candidates = outputCandidates(hp, 12101, true);
    assert.equal(candidates, 513);
    // blocks * (12 d^2 + 4 L d) + 2 d (S + 1), d = 64, L = 50, S = 512
    assert.equal(forwardFlopsPerPosition(hp, 50, candidates), 2 * (12 * 4096 + 4 * 50 * 64) + 2 * 64 * 513);
    assert.equal(forwardFlopsPerPosition(hp, 50, candidates), 189_568);
    assert.equal(trainingFlopsPerStep(hp, 128, 50, candidates), 3 * 128 * 50 * 189_568);
    // Full softmax scores every item (+ the target's own dot product).
    assert.equal(outputCandidates(hp, 1000, false), 1002);
  });

  it('replays the batch order trainNextItemModel takes, across epochs', async () => {
    await tf.setBackend('cpu');
    const hp = RecommenderHyperparameters.parse({ hiddenDim: 8, maxLen: 6, batchSize: 8, blocks: 1, softmax: 'sampled', sampledNegatives: 3, epochs: 3 });
    const rng = seededRng('bench-plan-test');
    const sequences = Array.from({ length: 40 }, () => Int32Array.from({ length: 2 + Math.floor(rng() * 8) }, () => 1 + Math.floor(rng() * 20)));
    const batches = makeBatches(sequences, hp.maxLen, hp.batchSize);
    const plan = stepPlan({ hp, numItems: 20, users: sequences.length, sequences, batches, sampled: useSampledSoftmax(hp, 20) }, 11);
    assert.equal(plan.length, 11); // 5 batches per epoch: spans three epochs
    const validation = sequences.slice(0, 2).map((s) => ({ history: s.subarray(0, s.length - 1), target: s[s.length - 1] }));
    const result = await trainNextItemModel({ hyperparameters: hp, numItems: 20, sequences, validation, maxSteps: 11 });
    result.model.dispose();
    assert.equal(result.steps, 11);
    assert.equal(result.samples, plan.reduce((n, s) => n + s.positions, 0));
  });
});
