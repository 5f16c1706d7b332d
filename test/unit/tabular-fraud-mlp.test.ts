import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../ml/backend';
import { FraudModel, TabularHyperparameters, trainFraudMlp, type Checkpoint, type FraudModelConfig } from '../../ml/tabular/fraud-mlp';
import { fitLogisticBaseline, LogisticHyperparameters } from '../../ml/tabular/logistic';
import { IDENTITY_CALIBRATION } from '../../ml/tabular/calibration';
import { averagePrecision, rocAuc } from '../../ml/tabular/metrics';
import { fitStandardizer } from '../../ml/tabular/standardizer';
import { syntheticFraud, type SyntheticSignal } from '../../ml/tabular/synthetic';

function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}

function splits(signal: SyntheticSignal, rows: { train: number; validation: number; test: number }, seed: string) {
  return {
    train: syntheticFraud({ rows: rows.train, signal, seed: `${seed}-train` }),
    validation: syntheticFraud({ rows: rows.validation, signal, seed: `${seed}-validation` }),
    test: syntheticFraud({ rows: rows.test, signal, seed: `${seed}-test` }),
  };
}

function maxWeightDifference(a: FraudModel, b: FraudModel): number {
  return Math.max(...a.namedWeights().map(({ name, tensor }) => tf.tidy(() => tf.max(tf.abs(tf.sub(tensor, b.variables.get(name)!))).dataSync()[0])));
}

describe('fraud MLP', function () {
  before(async () => {
    await selectBackend();
  });

  it('has strict hyperparameters with defaults', () => {
    const hp = TabularHyperparameters.parse({});
    assert.deepEqual(hp.hiddenLayers, [32]);
    assert.equal(hp.positiveWeight, 'sqrt-balanced');
    assert.throws(() => TabularHyperparameters.parse({ hiddenUnits: 3 }));
    assert.throws(() => TabularHyperparameters.parse({ positiveWeight: 'oversample' }));
  });

  it("the frozen scorer's hand-written backward pass equals autodiff's gradient x standardised input, times the calibration slope", () => {
    const featureNames = ['a', 'b', 'c', 'd', 'e'];
    const data = syntheticFraud({ rows: 40, features: 5, signal: 'linear', seed: 'explain' });
    const config: FraudModelConfig = { kind: 'fraud-mlp', featureNames, hiddenLayers: [7, 6, 4], standardizer: fitStandardizer(data.x, 5), calibration: { slope: 0.7, intercept: -2 } };
    const model = FraudModel.initialise(config, 3);
    const explained = model.frozen().explain(data.x, 40, 5);
    const standardized = tf.tensor2d(Float32Array.from(data.x, (v, i) => (v - config.standardizer.mean[i % 5]) / config.standardizer.scale[i % 5]), [40, 5]);
    const gradient = tf.grad((s: tf.Tensor) => tf.sum(model.logits(s as tf.Tensor2D)))(standardized);
    const expected = tf.mul(gradient, standardized).mul(0.7).arraySync() as number[][];
    explained.forEach((row, r) => {
      assert.deepEqual(row.map((c) => c.feature), [...featureNames].sort((f, g) => Math.abs(expected[r][featureNames.indexOf(g)]) - Math.abs(expected[r][featureNames.indexOf(f)])));
      for (const { feature, contribution } of row) assert.ok(Math.abs(contribution - expected[r][featureNames.indexOf(feature)]) < 1e-5);
    });
    tf.dispose([standardized, gradient]);
    model.dispose();
  });

  it('learns an imbalanced interaction problem that logistic regression cannot, calibrates its probabilities, and leaks no tensors', async () => {
    const { train, validation, test } = splits('interaction', { train: 30000, validation: 15000, test: 30000 }, 'interaction');
    const before = tf.memory().numTensors;
    const hp = TabularHyperparameters.parse({ epochs: 20, patience: 20 });
    const result = await trainFraudMlp({ hyperparameters: hp, featureNames: train.featureNames, train, validation });
    const scores = result.model.predict(test.x, test.y.length);
    const baseline = fitLogisticBaseline({ hyperparameters: LogisticHyperparameters.parse({}), featureNames: train.featureNames, train }).predict(test.x, test.y.length);
    const [mlpAp, baselineAp] = [averagePrecision(test.y, scores), averagePrecision(test.y, baseline)];
    assert.ok(mlpAp > 0.4 && mlpAp > 4 * baselineAp, `AP: MLP ${mlpAp}, logistic ${baselineAp}`);
    assert.ok(rocAuc(test.y, scores) > 0.95, `AUC ${rocAuc(test.y, scores)}`);

    // Calibration: the held-out mean predicted probability is close to the observed fraud
    // rate, while the positively weighted network's raw sigmoid overstates it.
    const observed = mean(test.y);
    const { slope, intercept } = result.model.config.calibration;
    assert.ok(Math.abs(mean(scores) - observed) < 0.2 * observed, `mean prediction ${mean(scores)}, observed rate ${observed}`);
    const raw = FraudModel.fromWeights({ ...result.model.config, calibration: IDENTITY_CALIBRATION }, Object.fromEntries(result.model.namedWeights().map((w) => [w.name, w.tensor])));
    const rawMean = mean(raw.predict(test.x, test.y.length));
    assert.ok(rawMean > 2 * observed, `uncalibrated mean ${rawMean}`);
    assert.ok(slope > 0.5 && slope < 2 && intercept < -1, `calibration ${slope}, ${intercept}`);
    // Among the top 1% of scores, predicted and observed fraud rates agree too.
    const top = [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, test.y.length / 100);
    const [topPredicted, topObserved] = [mean(top.map((i) => scores[i])), mean(top.map((i) => test.y[i]))];
    assert.ok(Math.abs(topPredicted - topObserved) < 0.15, `top 1%: predicted ${topPredicted}, observed ${topObserved}`);

    raw.dispose();
    result.model.dispose();
    assert.equal(tf.memory().numTensors, before, 'training leaked tensors');
  });

  it('explanations name the feature that drives the label', async () => {
    // Log-odds 3 z0 + z1 - z2: among the riskiest rows feature_00 dominates.
    const { train, validation, test } = splits('linear', { train: 20000, validation: 10000, test: 10000 }, 'drivers');
    const hp = TabularHyperparameters.parse({ epochs: 8, patience: 8 });
    const { model } = await trainFraudMlp({ hyperparameters: hp, featureNames: train.featureNames, train, validation });
    const scores = model.predict(test.x, test.y.length);
    const riskiest = [...scores.keys()].sort((a, b) => scores[b] - scores[a]).slice(0, 50);
    const rows = Float32Array.from(riskiest.flatMap((i) => [...test.x.subarray(i * 15, (i + 1) * 15)]));
    const explanations = model.frozen().explain(rows, riskiest.length, 3);
    const topIsDriver = explanations.filter((e) => e[0].feature === 'feature_00').length;
    assert.ok(topIsDriver >= 45, `feature_00 leads ${topIsDriver} of 50 explanations`);
    assert.ok(explanations.every((e) => e.length === 3 && e[0].contribution > 0));
    model.dispose();
  });

  it('stops early on validation average precision and keeps the best epoch', async () => {
    // Few training frauds and no dropout: the network overfits after a few epochs.
    const { train, validation } = splits('linear', { train: 3000, validation: 5000, test: 0 }, 'early');
    const hp = TabularHyperparameters.parse({ epochs: 60, patience: 3, dropout: 0, hiddenLayers: [128, 64], learningRate: 0.01, batchSize: 64, refit: false });
    const result = await trainFraudMlp({ hyperparameters: hp, featureNames: train.featureNames, train, validation });
    assert.equal(result.history.length, result.bestEpoch + 3, `best epoch ${result.bestEpoch} of ${result.history.length}`);
    assert.ok(result.history.length < 60);
    assert.equal(result.samples, result.history.length * 3000);
    const best = result.history[result.bestEpoch - 1].validation;
    assert.ok(result.history.every((h) => h.validation <= best));
    const kept = averagePrecision(validation.y, result.model.predict(validation.x, validation.y.length));
    assert.ok(Math.abs(kept - best) < 1e-3, `kept model's validation AP ${kept}, best epoch's ${best}`);
    result.model.dispose();
  });

  it('resumes from a checkpoint to the same model as an uninterrupted run, which checkpointing does not change', async () => {
    const { train, validation } = splits('linear', { train: 4000, validation: 3000, test: 0 }, 'resume');
    const hp = TabularHyperparameters.parse({ epochs: 4, patience: 10, batchSize: 128, learningRate: 0.01 });
    type Saved = { state: Checkpoint['state']; data: ArrayBuffer; specs: tf.io.WeightsManifestEntry[] };
    const saved: Saved[] = [];
    const checkpoints = {
      everySteps: 10,
      everySeconds: 3600,
      save: async (c: Checkpoint, step: number) => {
        assert.equal(step, c.state.step);
        const { data, specs } = await tf.io.encodeWeights(c.tensors);
        // Through JSON, as a checkpoint store keeps the state.
        saved.push({ state: JSON.parse(JSON.stringify(c.state)), data, specs });
      },
    };
    const options = { hyperparameters: hp, featureNames: train.featureNames, train, validation };
    const full = await trainFraudMlp({ ...options, checkpoints });
    const plain = await trainFraudMlp(options);
    assert.equal(maxWeightDifference(full.model, plain.model), 0);
    assert.ok(saved.length >= 5, `${saved.length} checkpoints`);
    // Mid-epoch, after a best-so-far copy exists.
    const middle = saved.find((s) => s.state.epoch === 3 && s.state.position > 0)!;
    const decoded = tf.io.decodeWeights(middle.data, middle.specs);
    const resumeFrom = { state: middle.state, tensors: Object.entries(decoded).map(([name, tensor]) => ({ name, tensor })) };
    const resumed = await trainFraudMlp({ ...options, resumeFrom });
    assert.equal(resumed.steps, full.steps);
    assert.deepEqual(resumed.history.map((h) => [h.epoch, h.validation]), full.history.map((h) => [h.epoch, h.validation]));
    const difference = maxWeightDifference(full.model, resumed.model);
    assert.ok(difference < 1e-5, `weights differ by ${difference}`);
    assert.ok(full.model.config.calibration.slope > 0);
    assert.deepEqual(resumed.model.config.calibration, full.model.config.calibration);
    await assert.rejects(trainFraudMlp({ ...options, hyperparameters: { ...hp, learningRate: 0.02 }, resumeFrom }), /other data or hyperparameters/);
    [full, plain, resumed].forEach((r) => r.model.dispose());
    tf.dispose(Object.values(decoded));
  });

  it('refits on training + validation for exactly the early-stopped number of epochs, keeping the selection and its calibration', async () => {
    const { train, validation } = splits('linear', { train: 3000, validation: 2000, test: 0 }, 'refit');
    const hp = TabularHyperparameters.parse({ epochs: 30, patience: 2, batchSize: 128, learningRate: 0.01, refit: false });
    const options = { featureNames: train.featureNames, train, validation };
    const selected = await trainFraudMlp({ ...options, hyperparameters: hp });
    const epochs: number[] = [];
    const refit = await trainFraudMlp({ ...options, hyperparameters: { ...hp, refit: true }, onEpoch: (r) => void epochs.push(r.epoch) });
    assert.equal(selected.refitEpochs, 0);
    assert.equal(refit.refitEpochs, selected.bestEpoch);
    assert.ok(refit.bestEpoch < refit.history.length, 'early stopping should have stopped before the last epoch');
    // The refit's epochs are the chosen count over all 5,000 rows, on top of the selection's.
    assert.equal(refit.samples, selected.samples + selected.bestEpoch * 5000);
    assert.equal(refit.steps, selected.steps + selected.bestEpoch * Math.ceil(5000 / 128));
    assert.deepEqual(refit.history.map((h) => h.validation), selected.history.map((h) => h.validation));
    assert.deepEqual(epochs, selected.history.map((h) => h.epoch), 'only the selection reports validated epochs');
    assert.deepEqual(refit.model.config.calibration, selected.model.config.calibration);
    assert.ok(maxWeightDifference(refit.model, selected.model) > 1e-3, 'the refit should be a new network');
    [selected, refit].forEach((r) => r.model.dispose());
  });

  it('resumes mid-refit to the same model as an uninterrupted refit', async () => {
    const { train, validation } = splits('linear', { train: 3000, validation: 2000, test: 0 }, 'refit-resume');
    const hp = TabularHyperparameters.parse({ epochs: 3, patience: 10, batchSize: 128, learningRate: 0.01, refit: true });
    const saved: Checkpoint[] = [];
    // The state through JSON, as a checkpoint store keeps it; the tensors copied, as the loop reuses its own.
    const save = async (c: Checkpoint) => void saved.push({ state: JSON.parse(JSON.stringify(c.state)), tensors: c.tensors.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) })) });
    const checkpoints = { everySteps: 7, everySeconds: 3600, save };
    const options = { hyperparameters: hp, featureNames: train.featureNames, train, validation };
    const full = await trainFraudMlp({ ...options, checkpoints });
    const steps = saved.map((c) => c.state.step);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b), 'the refit must count steps on from the selection, as checkpoints are ordered by step');
    assert.equal(new Set(steps).size, steps.length);
    // Mid-epoch in the refit's second epoch: the selection is in the checkpoint's state.
    const middle = saved.find((c) => c.state.selection && c.state.epoch === 2 && c.state.position > 0)!;
    assert.ok(middle, `no mid-refit checkpoint among ${saved.length}`);
    assert.equal(middle.tensors.filter((t) => t.name.startsWith('best/')).length, 0, 'a refit keeps no best-so-far copy');
    const resumed = await trainFraudMlp({ ...options, resumeFrom: middle });
    assert.equal(resumed.steps, full.steps);
    assert.equal(resumed.samples, full.samples);
    assert.deepEqual(resumed.history.map((h) => [h.epoch, h.validation]), full.history.map((h) => [h.epoch, h.validation]));
    assert.deepEqual(resumed.model.config.calibration, full.model.config.calibration);
    const difference = maxWeightDifference(full.model, resumed.model);
    assert.ok(difference < 1e-5, `weights differ by ${difference}`);
    [full, resumed].forEach((r) => r.model.dispose());
    tf.dispose(saved.flatMap((c) => c.tensors.map((t) => t.tensor)));
  });

  it('saves and loads through namedWeights, tf.io and a JSON config with identical predictions and explanations', async () => {
    const { train, validation, test } = splits('linear', { train: 4000, validation: 3000, test: 500 }, 'save');
    const { model } = await trainFraudMlp({ hyperparameters: TabularHyperparameters.parse({ epochs: 2 }), featureNames: train.featureNames, train, validation });
    const { data, specs } = await tf.io.encodeWeights(model.namedWeights());
    const decoded = tf.io.decodeWeights(data, specs);
    const loaded = FraudModel.fromWeights(JSON.parse(JSON.stringify(model.config)), decoded);
    tf.dispose(Object.values(decoded));
    assert.deepEqual(loaded.predict(test.x, 500), model.predict(test.x, 500));
    assert.deepEqual(loaded.frozen().explain(test.x, 500, 4), model.frozen().explain(test.x, 500, 4));
    const { 'output/bias': _bias, ...missing } = Object.fromEntries(model.namedWeights().map((w) => [w.name, w.tensor]));
    assert.throws(() => FraudModel.fromWeights(model.config, missing), /no tensor "output\/bias"/);
    loaded.dispose();
    model.dispose();
  });
});
