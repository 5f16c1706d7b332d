import assert from 'node:assert/strict';
import { parseLifecycleInput, servingModelName } from '../../schemas/lifecycle-input';
import { assertSafeKeySegment } from '../../activities/storage/object-store';
import { parseHyperparameters } from '../../activities/optimize';
import { kindOf } from '../../activities/model-kinds/registry';

describe('workflow input', () => {
  it('accepts {} and fills every default', () => {
    const config = parseLifecycleInput({});
    assert.equal(config.kind, 'next-item');
    assert.equal(config.dataset, 'store');
    assert.equal(config.force, false);
    assert.deepEqual(config.hyperparameters, {});
    assert.equal(config.promotion.metric, undefined, 'the kind\'s primary metric decides');
    assert.equal(parseHyperparameters(kindOf(config.kind), config.hyperparameters).model, 'sasrec');
    assert.equal(servingModelName(config), 'store-next-item');
  });

  it('refuses null and other non-objects, which are never the defaults', () => {
    for (const input of [null, 'store', 42, []]) {
      assert.throws(() => parseLifecycleInput(input), (error: Error) => error.name === 'InvalidWorkflowInput' && /invalid workflow input/.test(error.message), String(input));
    }
    assert.equal(parseLifecycleInput(undefined).dataset, parseLifecycleInput({}).dataset);
  });

  it('names the offending field', () => {
    const nextItem = kindOf('next-item');
    assert.throws(() => parseHyperparameters(nextItem, { epochs: -1 }), /invalid hyperparameters for next-item: epochs/);
    assert.throws(() => parseLifecycleInput({ colour: 'red' }), /colour: unknown field/);
    assert.throws(() => parseHyperparameters(nextItem, { hiddenDim: 30, heads: 4 }), /divisible/);
    assert.throws(() => parseHyperparameters(nextItem, { depth: 3 }), /depth/);
    assert.throws(() => kindOf('fraud'), /unknown model kind "fraud"; registered kinds: next-item/);
  });

  it('keeps object keys inside their prefix', () => {
    for (const bad of ['../etc', 'a/b', '..', '', '.hidden', 'x'.repeat(200)]) {
      assert.throws(() => parseLifecycleInput({ dataset: bad }), /dataset/);
      assert.throws(() => assertSafeKeySegment(bad, 'dataset'), /dataset/);
    }
    assert.equal(assertSafeKeySegment('amazon-beauty', 'dataset'), 'amazon-beauty');
  });
});
