import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FraudModel } from '../../ml/tabular/fraud-mlp';
import { MlpScorer } from '../../ml/tabular/mlp-scorer';
import { FEATURE_NAMES, OnlineFeatureState } from '../../activities/model-kinds/transaction-risk/features';
import { AlreadyScoredError, assertNotScored, loadRiskModel, type LoadedRiskModel, type RiskModelConfig } from '../../activities/model-kinds/transaction-risk/serving';
import type { ObjectStore } from '../../activities/storage/object-store';

const config = (labelDelayDays: number): RiskModelConfig => ({
  kind: 'fraud-mlp',
  featureNames: [...FEATURE_NAMES],
  hiddenLayers: [4],
  standardizer: { mean: FEATURE_NAMES.map(() => 0), scale: FEATURE_NAMES.map(() => 1) },
  calibration: { slope: 1, intercept: 0 },
  featureOptions: { windowsDays: [1, 7, 30], labelDelayDays },
  decision: { review: 0.2, decline: 0.8 },
  reviewBudget: 0.01,
});

function bundleOf(c: RiskModelConfig) {
  const model = FraudModel.initialise(c, 1);
  const tensors = Object.fromEntries(model.namedWeights().map(({ name, tensor }) => [name, tf.clone(tensor)]));
  model.dispose();
  return { config: c as unknown as Record<string, unknown>, tensors, weightsSha256: 'x', metadata: {} };
}

describe('transaction-risk serving versions', () => {
  it('a hot swap to a version with the same feature definitions takes over the live feature state', async () => {
    const weights = Object.fromEntries(Object.entries(bundleOf(config(7)).tensors).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
    const live: LoadedRiskModel = { model: MlpScorer.fromWeights(config(7), weights), config: config(7), features: { state: new OnlineFeatureState(config(7).featureOptions), clockMs: 0 } };
    live.features.state.score({ transactionId: 't1', timeMs: Date.UTC(2026, 0, 1), customerId: 'c', terminalId: 'p', amount: 10 });
    const unusedStore = {} as ObjectStore;
    const next = await loadRiskModel({ store: unusedStore, bundle: bundleOf(config(7)), artifactKey: () => assert.fail('the swap must not rebuild the state') }, live);
    assert.equal(next.features, live.features, 'the same state object');
    const card = next.features.state.score({ transactionId: 't2', timeMs: Date.UTC(2026, 0, 1, 1), customerId: 'c', terminalId: 'p', amount: 30 });
    assert.equal(card[FEATURE_NAMES.indexOf('customer_nb_tx_1d')], 2, 'the new version sees what the old one scored');
    await assert.rejects(
      loadRiskModel({ store: unusedStore, bundle: bundleOf(config(3)), artifactKey: () => { throw new Error('rebuilds from its own artifact'); } }, live),
      /rebuilds from its own artifact/,
      'other feature definitions start from the version\'s own state',
    );
  });
});

describe('transaction-risk serving: a transaction is scored once', () => {
  const held = new Set(['t1']);
  it('refuses a scored id, or one twice in a batch, with a 409 naming it', () => {
    assert.throws(() => assertNotScored(['t1'], (id) => held.has(id), false), (e: AlreadyScoredError) => e.statusCode === 409 && e.field === 'transaction_id');
    assert.throws(() => assertNotScored(['t2', 't3', 't2'], (id) => held.has(id), true), (e: AlreadyScoredError) => e.field === '[2].transaction_id');
    assert.doesNotThrow(() => assertNotScored(['t2', 't3'], (id) => held.has(id), true));
  });
});
