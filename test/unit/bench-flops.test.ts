import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { encoderFlopsPerPosition, outputCandidates, stepPlan, trainingFlopsPerStep } from '../../bench/training';
import { makeBatches, trainNextItemModel, useSampledSoftmax } from '../../ml/sequence/train';
import { seededRng } from '../../ml/random';
import { RecommenderHyperparameters } from '../../ml/sequence/hyperparameters';

describe('bench:training FLOP model and step plan', () => {
  it('counts a SASRec step analytically: the encoder on padded positions, the output layer on targets', () => {
    const hp = RecommenderHyperparameters.parse({});
    // blocks * (12 d^2 + 4 L d), d = 64, L = 50
    assert.equal(encoderFlopsPerPosition(hp, 50), 2 * (12 * 4096 + 4 * 50 * 64));
    assert.equal(outputCandidates(hp, 12101, true), 513);
    // Full softmax scores every item.
    assert.equal(outputCandidates(hp, 12101, false), 12101);
    assert.equal(trainingFlopsPerStep(hp, 128, 50, 1000, 12101), 3 * (128 * 50 * 123_904 + 1000 * 2 * 64 * 12101));
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
