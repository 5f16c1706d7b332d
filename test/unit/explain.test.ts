import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { gradientTimesInput, integratedGradients, meanAbsoluteAttribution, occlusion, perPosition, ranked } from '../../ml/explain';
import { selectBackend } from '../../ml/backend';
import { FraudModel, type FraudModelConfig } from '../../ml/tabular/fraud-mlp';
import { standardize } from '../../ml/tabular/standardizer';
import { IntentNetwork } from '../../ml/text/intent-model';
import { IntentScorer } from '../../ml/text/intent-scorer';
import { fitTokenizer, HashingParams, Tokenizer } from '../../ml/text/tokenizer';
import { decomposeForecast } from '../../ml/forecast/decomposition';
import { seededRng } from '../../ml/random';
import { explanationSection } from '../../activities/run-report';

const close = (actual: number, expected: number, tolerance: number, what: string) => assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
const sum = (values: ArrayLike<number>) => Array.from(values).reduce((a, b) => a + b, 0);

describe('attributions (ml/explain.ts)', () => {
  before(() => selectBackend());

  it('for a linear model, gradient x input and integrated gradients from 0 are weight x input', () => {
    const weights = [0.5, -2, 3, 0];
    const x = [4, 1, -0.5, 7];
    const w = tf.tensor1d(weights);
    const score = (inputs: tf.Tensor) => inputs.mul(w).sum(1).add(1.5) as tf.Tensor1D;
    const input = tf.tensor1d(x);
    const expected = weights.map((wi, i) => wi * x[i]);
    Array.from(gradientTimesInput(score, input)).forEach((a, i) => close(a, expected[i], 1e-5, `gradient x input ${i}`));
    Array.from(integratedGradients(score, input, undefined, 4)).forEach((a, i) => close(a, expected[i], 1e-5, `integrated gradients ${i}`));
    tf.dispose([w, input]);
  });

  it('integrated gradients are complete: they add up to f(x) - f(baseline) for a nonlinear model', () => {
    const random = seededRng(3);
    const kernel = tf.tensor2d(Array.from({ length: 6 * 8 }, () => random() - 0.5), [6, 8]);
    const out = tf.tensor2d(Array.from({ length: 8 }, () => random() - 0.5), [8, 1]);
    const score = (inputs: tf.Tensor) => tf.tanh(inputs.matMul(kernel)).matMul(out).reshape([-1]) as tf.Tensor1D;
    const x = tf.tensor1d([1.2, -0.7, 2.5, 0.3, -1.9, 0.8]);
    const baseline = tf.tensor1d([0.1, 0.2, -0.3, 0, 0.5, -0.1]);
    const f = (v: tf.Tensor) => tf.tidy(() => score(v.expandDims(0)).dataSync()[0]);
    const difference = f(x) - f(baseline);
    const attributions = integratedGradients(score, x, baseline, 64);
    close(sum(attributions), difference, Math.abs(difference) * 0.01 + 1e-4, 'sum of attributions');
    // Gradient x input is first order only: on this model it is not complete.
    assert.notEqual(sum(gradientTimesInput(score, x)).toFixed(3), difference.toFixed(3));
    tf.dispose([kernel, out, x, baseline]);
  });

  it('the risk scorer\'s hand-written contributions are the host\'s gradient x input on the tfjs network', () => {
    const config: FraudModelConfig = { kind: 'fraud-mlp', featureNames: ['a', 'b', 'c', 'd'], hiddenLayers: [16], standardizer: { mean: [1, 0, -2, 5], scale: [2, 1, 0.5, 3] }, calibration: { slope: 0.7, intercept: -1 } };
    const model = FraudModel.initialise(config, 9);
    try {
      const row = Float32Array.from([3, -1, 0, 9]);
      const standardized = tf.tensor1d(standardize(config.standardizer, row));
      const host = gradientTimesInput((inputs) => model.logits(inputs as tf.Tensor2D), standardized);
      const [scorer] = model.frozen().explain(row, 1, 4);
      for (const { feature, contribution } of scorer) close(contribution, host[config.featureNames.indexOf(feature)] * config.calibration.slope, 1e-5, feature);
      standardized.dispose();
    } finally {
      model.dispose();
    }
  });

  it('the text network\'s entry attributions add up to logit(text) - logit(empty text), and its words\' to the entries\'', () => {
    const texts = ['where is my card', 'my card has not arrived', 'top up failed again', 'how do i top up', 'card payment declined', 'where is my top up'];
    const tokenizer = new Tokenizer(fitTokenizer(texts, HashingParams.parse({ hashBits: 16, minDocumentFrequency: 1 })));
    const network = IntentNetwork.initialise({ kind: 'intent-bag', features: tokenizer.features, hiddenLayers: [12], intents: ['card', 'top_up', 'decline'], temperature: 1.3 }, 4);
    try {
      const scorer = IntentScorer.fromWeights(network.config, Object.fromEntries(network.namedWeights().map(({ name, tensor }) => [name, tensor.dataSync() as Float32Array])));
      const text = 'my card top up has not arrived';
      const encoded = tokenizer.encode(text);
      const [withText, empty] = [network.scaledLogits([encoded]), network.scaledLogits([tokenizer.encode('')])];
      // The host's tfjs integrated gradients over the weighted embedding rows, as the reference for the scorer's hand-written pass.
      const weights = Object.fromEntries(network.namedWeights().map(({ name, tensor }) => [name, tensor]));
      const rows = tf.tidy(() => tf.gather(weights['bag/kernel'], tf.tensor1d(encoded.indices, 'int32')).mul(tf.tensor1d(encoded.weights).expandDims(1)));
      const reference = (intent: number) =>
        perPosition(
          integratedGradients((embedded) => {
            const h = tf.relu(embedded.sum(1).add(weights['bag/bias'])).matMul(weights['output/kernel']).add(weights['output/bias']);
            return h.slice([0, intent], [-1, 1]).reshape([-1]).div(network.config.temperature) as tf.Tensor1D;
          }, rows),
          encoded.indices.length,
        );
      for (let intent = 0; intent < 3; intent++) {
        const entries = scorer.entryAttributions(encoded, intent);
        assert.equal(entries.length, encoded.indices.length);
        const expected = reference(intent);
        entries.forEach((a, e) => close(a, expected[e], 1e-4, `entry ${e} vs the tfjs integrated gradients`));
        const difference = withText[intent] - empty[intent];
        close(sum(entries), difference, Math.abs(difference) * 0.02 + 1e-4, `intent ${intent}`);
        const { words, attributions } = tokenizer.wordAttributions(text, encoded, entries);
        assert.deepEqual(words, ['my', 'card', 'top', 'up', 'has', 'not', 'arrived']);
        close(sum(attributions), sum(entries), 1e-6, 'words vs entries');
      }
      rows.dispose();
    } finally {
      network.dispose();
    }
  });

  it('occlusion gives each position what leaving it out costs the target\'s score, in one scoring call', async () => {
    // An additive scorer: item i adds i * 0.5 to item 3's score, and the last item counts twice (recency).
    const calls: number[] = [];
    const score = async (sequences: Int32Array[]) => {
      calls.push(sequences.length);
      const width = 5;
      const out = new Float32Array(sequences.length * width);
      sequences.forEach((s, r) => s.forEach((item, p) => (out[r * width + 3] += item * 0.5 * (p === s.length - 1 ? 2 : 1))));
      return out;
    };
    const attributions = await occlusion(score, Int32Array.from([1, 4, 2]), 3, 5);
    // Full: 1*.5 + 4*.5 + 2*.5*2 = 4.5. Without 1: 4*.5 + 2*1 = 4; without 4: 1*.5 + 2*1 = 2.5;
    // without 2, 4 becomes the most recent: 1*.5 + 4*1 = 4.5, so the last item costs nothing to leave out.
    assert.deepEqual(Array.from(attributions), [0.5, 2, 0]);
    assert.deepEqual(calls, [4]);
    assert.deepEqual(Array.from(await occlusion(score, new Int32Array(0), 3, 5)), []);
  });

  it('perPosition sums each row; ranked orders by magnitude; the global mean counts an absent input as 0', () => {
    assert.deepEqual(Array.from(perPosition([1, 2, -3, 4, 0.5, 0.5], 3)), [3, 1, 1]);
    assert.throws(() => perPosition([1, 2, 3], 2), /do not split/);
    assert.deepEqual(ranked(['a', 'b', 'c'], [0.1, -2, 1], 2), [{ input: 'b', attribution: -2 }, { input: 'c', attribution: 1 }]);
    assert.deepEqual(meanAbsoluteAttribution([[{ input: 'a', attribution: -2 }, { input: 'b', attribution: 1 }], [{ input: 'a', attribution: 4 }]], 5), [
      { input: 'a', meanAbs: 3, cases: 2 },
      { input: 'b', meanAbs: 0.5, cases: 1 },
    ]);
  });

  it('a forecast decomposition adds up to the p50: level + trend + season', () => {
    const seasonal = Array.from({ length: 60 }, (_, t) => 100 + t + 30 * Math.sin((2 * Math.PI * t) / 12));
    const p50 = Float64Array.from({ length: 6 }, (_, k) => 160 + k + 30 * Math.sin((2 * Math.PI * (60 + k)) / 12));
    const { level, trend, season } = decomposeForecast(seasonal, p50, 12);
    p50.forEach((v, k) => close(level + trend[k] + season[k], v, 1e-9, `step ${k}`));
    assert.ok(season.some((s) => Math.abs(s) > 1), 'a seasonal series has a seasonal part');
    const flat = decomposeForecast([5, 5, 5, 5, 5, 5], [5, 5], 1);
    assert.deepEqual(Array.from(flat.season), [0, 0]);
    close(flat.level, 5, 1e-6, 'level of a flat series');
  });
});

describe('the run report\'s global explanations', () => {
  it('lists the new model\'s top inputs beside the champion\'s, with how each moved', () => {
    const explanation = (top: [string, number][]) => ({ method: 'gradient-x-input', of: 'log-odds', cases: 300, top: top.map(([input, meanAbs]) => ({ input, meanAbs })) });
    const section = explanationSection({
      championVersion: 'v3',
      explanations: { candidate: explanation([['amount', 0.9], ['night', 0.5], ['risk_7d', 0.2]]), champion: explanation([['night', 0.7], ['amount', 0.6], ['weekend', 0.1]]) },
    });
    assert.match(section, /\| 1 \| `amount` \| 0\.9000 \| 0\.6000 \| up from 2 \|/);
    assert.match(section, /\| 2 \| `night` \| 0\.5000 \| 0\.7000 \| down from 1 \|/);
    assert.match(section, /\| 3 \| `risk_7d` \| 0\.2000 \| – \| new in the top \|/);
    assert.match(section, /Left the top 3 since the champion: `weekend`/);
    assert.match(explanationSection({ championVersion: null, explanations: { candidate: null, champion: null } }), /computes no global explanation/);
  });
});
