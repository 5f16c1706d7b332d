import assert from 'node:assert/strict';
import { FraudModel, type FraudModelConfig } from '../../ml/tabular/fraud-mlp';
import { MlpScorer } from '../../ml/tabular/mlp-scorer';
import { seededRng } from '../../ml/random';

describe('MlpScorer (the fraud network in plain JavaScript, for serving)', () => {
  for (const hiddenLayers of [[32], [7, 6, 4]]) {
    it(`scores as the tfjs network does, to float32 rounding (${hiddenLayers.join('-')}); explain ranks the same contributions`, () => {
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
        const scorer = model.frozen();
        const expected = model.predict(x, rows);
        const { probabilities, contributions } = scorer.score(x, rows, features);
        for (let i = 0; i < rows; i++) assert.ok(Math.abs(probabilities[i] - expected[i]) < 1e-5, `row ${i}: ${probabilities[i]} vs ${expected[i]}`);
        assert.deepEqual(scorer.explain(x, rows, 2), contributions.map((row) => row.slice(0, 2)));
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
