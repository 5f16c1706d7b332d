import assert from 'node:assert/strict';
import { fitStandardizer, standardize } from '../../ml/tabular/standardizer';
import { fitLogisticBaseline, LinearFraudModel, LogisticHyperparameters, sigmoid } from '../../ml/tabular/logistic';
import { calibrate, fitPlattScaling } from '../../ml/tabular/calibration';
import { averagePrecision, rocAuc } from '../../ml/tabular/metrics';
import { syntheticFraud } from '../../ml/tabular/synthetic';
import { seededRng } from '../../ml/random';

describe('tabular standardizer', () => {
  it('fits population mean and std per feature, scale 1 for a constant feature, and survives JSON', () => {
    // Two features, three rows: [1, 5], [2, 5], [3, 5].
    const x = Float32Array.from([1, 5, 2, 5, 3, 5]);
    const params = JSON.parse(JSON.stringify(fitStandardizer(x, 2)));
    assert.deepEqual(params.mean, [2, 5]);
    assert.ok(Math.abs(params.scale[0] - Math.sqrt(2 / 3)) < 1e-12);
    assert.equal(params.scale[1], 1);
    const out = standardize(params, Float32Array.from([2, 5, 3, 6]));
    assert.ok(Math.abs(out[0]) < 1e-7 && Math.abs(out[1]) < 1e-7);
    assert.ok(Math.abs(out[2] - 1 / Math.sqrt(2 / 3)) < 1e-6);
    // A feature constant in training moves by its raw change at serving time, not by change / tiny std.
    assert.equal(out[3], 1);
  });

  it('refuses non-finite values and ragged rows, naming the cell', () => {
    assert.throws(() => fitStandardizer(Float32Array.from([1, NaN, 2, 3]), 2), /feature 1 of row 0 is NaN/);
    assert.throws(() => fitStandardizer(Float32Array.from([1, 2, 3]), 2), /not 2 features per row/);
    assert.throws(() => standardize({ mean: [0], scale: [1] }, Float32Array.from([Infinity])), /feature 0 of row 0 is Infinity/);
  });
});

describe('logistic regression baseline', () => {
  it("reaches the optimum of sklearn's objective (C = 1, unpenalised intercept): its gradient vanishes", () => {
    const data = syntheticFraud({ rows: 5000, features: 6, fraudRate: 0.05, signal: 'linear', seed: 'kkt' });
    const model = fitLogisticBaseline({ hyperparameters: LogisticHyperparameters.parse({}), featureNames: data.featureNames, train: data });
    const { coefficients, intercept, standardizer } = model.config;
    const standardized = standardize(standardizer, data.x);
    const features = coefficients.length;
    // Gradient of sum(log loss) + |w|^2 / 2 in float64, written out independently of the solver.
    const gradient = [...coefficients, 0];
    for (let row = 0; row < data.y.length; row++) {
      let z = intercept;
      for (let j = 0; j < features; j++) z += coefficients[j] * standardized[row * features + j];
      const residual = sigmoid(z) - data.y[row];
      for (let j = 0; j < features; j++) gradient[j] += residual * standardized[row * features + j];
      gradient[features] += residual;
    }
    const largest = Math.max(...gradient.map(Math.abs));
    assert.ok(largest < 1e-6, `gradient ${gradient}`);
    // The label depends on latent features 0..2 only, with weights 3, 1, -1.
    assert.ok(coefficients[0] > 2 && coefficients[1] > 0.5 && coefficients[2] < -0.5, `coefficients ${coefficients}`);
  });

  it('with no usable feature, the intercept is the log-odds of the fraud rate', () => {
    const y = Uint8Array.from({ length: 200 }, (_, i) => (i < 10 ? 1 : 0));
    const x = new Float32Array(200).fill(3);
    const model = fitLogisticBaseline({ hyperparameters: LogisticHyperparameters.parse({}), featureNames: ['constant'], train: { x, y } });
    assert.ok(Math.abs(model.config.intercept - Math.log(10 / 190)) < 1e-9, `intercept ${model.config.intercept}`);
    assert.ok(Math.abs(model.config.coefficients[0]) < 1e-12);
  });

  it('ranks a linear problem nearly as well as the true probability, and its explanations add up to the logit', () => {
    const train = syntheticFraud({ rows: 20000, signal: 'linear', seed: 'baseline-train' });
    const test = syntheticFraud({ rows: 20000, signal: 'linear', seed: 'baseline-test' });
    const model = fitLogisticBaseline({ hyperparameters: LogisticHyperparameters.parse({}), featureNames: train.featureNames, train });
    const scores = model.predict(test.x, test.y.length);
    assert.ok(rocAuc(test.y, scores) > rocAuc(test.y, test.probability) - 0.01);
    assert.ok(averagePrecision(test.y, scores) > averagePrecision(test.y, test.probability) - 0.05);
    const row = test.x.subarray(0, 15);
    const all = model.explain(row, 1, 15)[0];
    const sum = all.reduce((s, c) => s + c.contribution, model.config.intercept);
    assert.ok(Math.abs(sum - model.logits(row, 1)[0]) < 1e-5);
    const restored = new LinearFraudModel(JSON.parse(JSON.stringify(model.config)));
    assert.deepEqual(restored.predict(test.x, test.y.length), scores);
  });
});

describe('Platt scaling', () => {
  it('recovers the slope and intercept that generated the labels', () => {
    const rng = seededRng('platt');
    const logits = Float64Array.from({ length: 40000 }, () => 6 * rng() - 3);
    const labels = Uint8Array.from(logits, (z) => (rng() < sigmoid(0.5 * z - 1) ? 1 : 0));
    const fitted = fitPlattScaling(logits, labels);
    assert.ok(Math.abs(fitted.slope - 0.5) < 0.05 && Math.abs(fitted.intercept + 1) < 0.05, JSON.stringify(fitted));
    assert.ok(Math.abs(calibrate(fitted, 2) - sigmoid(0)) < 0.02);
  });

  it('stays finite on perfectly separated scores, and predicts the smoothed rate for scores that rank frauds below genuine rows', () => {
    const separated = fitPlattScaling(Float64Array.from([-2, -1, 1, 2]), Uint8Array.from([0, 0, 1, 1]));
    assert.ok(Number.isFinite(separated.slope) && separated.slope > 0);
    // 3 frauds of 6: targets 4/5 and 1/5, so the smoothed rate is 1/2.
    const inverted = fitPlattScaling(Float64Array.from([-2, -1, 1, 2, 0.5, -0.5]), Uint8Array.from([1, 1, 0, 0, 0, 1]));
    assert.equal(inverted.slope, 0);
    assert.ok(Math.abs(calibrate(inverted, 5) - 0.5) < 1e-12);
  });
});
