import assert from 'node:assert/strict';
import { parseLifecycleInput, servingModelName } from '../../schemas/lifecycle-input';
import { assertSafeKeySegment } from '../../activities/storage/object-store';

describe('workflow input', () => {
  it('accepts {} and fills every default', () => {
    const config = parseLifecycleInput({});
    assert.equal(config.kind, 'next-item');
    assert.equal(config.dataset, 'store');
    assert.equal(config.force, false);
    assert.equal(config.hyperparameters.model, 'sasrec');
    assert.equal(config.promotion.metric, 'ndcg@10');
    assert.equal(servingModelName(config), 'store-next-item');
  });

  it('names the offending field', () => {
    assert.throws(() => parseLifecycleInput({ hyperparameters: { epochs: -1 } }), /hyperparameters\.epochs/);
    assert.throws(() => parseLifecycleInput({ colour: 'red' }), /colour: unknown field/);
    assert.throws(() => parseLifecycleInput({ hyperparameters: { hiddenDim: 30, heads: 4 } }), /divisible/);
  });

  it('keeps object keys inside their prefix', () => {
    for (const bad of ['../etc', 'a/b', '..', '', '.hidden', 'x'.repeat(200)]) {
      assert.throws(() => parseLifecycleInput({ dataset: bad }), /dataset/);
      assert.throws(() => assertSafeKeySegment(bad, 'dataset'), /dataset/);
    }
    assert.equal(assertSafeKeySegment('amazon-beauty', 'dataset'), 'amazon-beauty');
  });
});
