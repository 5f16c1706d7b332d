import assert from 'node:assert/strict';
import { FraudModel, type FraudModelConfig } from '../../ml/tabular/fraud-mlp';
import { MlpScorer } from '../../ml/tabular/mlp-scorer';
import { seededRng } from '../../ml/random';

function frozen(model: FraudModel): MlpScorer {
  return MlpScorer.fromWeights(model.config, Object.fromEntries(model.namedWeights().map(({ name, tensor }) => [name, tensor.dataSync() as Float32Array])));
}

describe('MlpScorer (the fraud network in plain JavaScript, for serving)', () => {
  for (const hiddenLayers of [[32], [7, 6, 4]]) {
    it(`scores and explains as the tfjs network does, to float32 rounding (${hiddenLayers.join('-')})`, () => {
      const features = 5;
      const rows = 200;
      const random = seededRng(11);
      // Some exact zeros and far-out values: the ReLU masks and the skipped zero inputs must agree with tfjs.
      const x = Float32Array.from({ length: rows * features }, (_, i) => (i % 7 === 0 ? 0 : (random() - 0.5) * (i % 11 === 0 ? 400 : 4)));
      const config: FraudModelConfig = {
        kind: 'fraud-mlp',
        featureNames: ['a', 'b', 'c', 'd', 'e'],
        hiddenLayers,
        standardizer: { mean: [0.1, -0.2, 0, 1, 2], scale: [1, 2, 0.5, 1, 3] },
        calibration: { slope: 0.8, intercept: -1.5 },
      };
      const model = FraudModel.initialise(config, 5);
      try {
        const scorer = frozen(model);
        const expected = model.predict(x, rows);
        const { probabilities, contributions } = scorer.score(x, rows, features);
        for (let i = 0; i < rows; i++) assert.ok(Math.abs(probabilities[i] - expected[i]) < 1e-5, `row ${i}: ${probabilities[i]} vs ${expected[i]}`);
        const expectedContributions = model.explain(x, rows, features);
        for (let i = 0; i < rows; i++) {
          const byFeature = new Map(expectedContributions[i].map((c) => [c.feature, c.contribution]));
          for (const c of contributions[i]) assert.ok(Math.abs(c.contribution - byFeature.get(c.feature)!) < 1e-4 * Math.max(1, Math.abs(c.contribution)), `row ${i} ${c.feature}`);
        }
        assert.deepEqual(scorer.predict(x, rows), probabilities);
      } finally {
        model.dispose();
      }
    });
  }

  it('refuses weights of another architecture, naming the layer', () => {
    const config: FraudModelConfig = { kind: 'fraud-mlp', featureNames: ['a', 'b'], hiddenLayers: [3], standardizer: { mean: [0, 0], scale: [1, 1] }, calibration: { slope: 1, intercept: 0 } };
    assert.throws(() => MlpScorer.fromWeights(config, { 'hidden0/kernel': new Float32Array(6), 'hidden0/bias': new Float32Array(3) }), /no output layer/);
    assert.throws(
      () => MlpScorer.fromWeights(config, { 'hidden0/kernel': new Float32Array(8), 'hidden0/bias': new Float32Array(4), 'output/kernel': new Float32Array(3), 'output/bias': new Float32Array(1) }),
      /layer 0 has 8 kernel and 4 bias values; a \[2, 3\] layer has 6 and 3/,
    );
  });
});
