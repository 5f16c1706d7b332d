import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../ml/backend';
import { FlatAdam } from '../../ml/adam';
import { dropout, layerNorm, sparseSoftmaxCrossEntropy, tiedOutputCrossEntropy } from '../../ml/layers';

function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

/** The textbook layer norm, differentiated by tfjs autodiff. */
function referenceLayerNorm(x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(1e-8).sqrt()).mul(gamma).add(beta);
}

describe('training kernels (the fused and hand-differentiated pieces of a step)', function () {
  before(async () => {
    await selectBackend();
  });

  it("layerNorm's hand-derived gradient equals autodiff of the textbook formula", () => {
    tf.tidy(() => {
      const x = tf.randomNormal([7, 16], 0, 3, 'float32', 1) as tf.Tensor2D;
      const gamma = tf.randomNormal([16], 1, 0.5, 'float32', 2);
      const beta = tf.randomNormal([16], 0, 0.5, 'float32', 3);
      const upstream = tf.randomNormal([7, 16], 0, 1, 'float32', 4);
      const lossOf = (norm: typeof layerNorm) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(norm(a as tf.Tensor2D, g, b).mul(upstream));
      assert.ok(maxDifference(layerNorm(x, gamma, beta), referenceLayerNorm(x, gamma, beta)) < 1e-5);
      const ours = tf.grads(lossOf(layerNorm))([x, gamma, beta]);
      const reference = tf.grads(lossOf(referenceLayerNorm))([x, gamma, beta]);
      ['dx', 'dgamma', 'dbeta'].forEach((name, i) => {
        const difference = maxDifference(ours[i], reference[i]);
        assert.ok(difference < 1e-4, `${name} differs by ${difference}`);
      });
    });
  });

  it('sparseSoftmaxCrossEntropy and its gradient equal the composite formula', () => {
    tf.tidy(() => {
      const logits = tf.randomNormal([6, 40], 0, 4, 'float32', 9) as tf.Tensor2D;
      const labels = tf.tensor1d([0, 5, 39, 17, 17, 2], 'int32');
      const weights = tf.randomNormal([6], 0, 1, 'float32', 10);
      const composite = (l: tf.Tensor2D) => tf.sub(tf.logSumExp(l, -1), tf.sum(tf.mul(l, tf.oneHot(labels, 40)), -1));
      assert.ok(maxDifference(sparseSoftmaxCrossEntropy(logits, labels), composite(logits)) < 1e-4);
      const ours = tf.grad((l: tf.Tensor) => tf.sum(sparseSoftmaxCrossEntropy(l as tf.Tensor2D, labels).mul(weights)))(logits);
      const reference = tf.grad((l: tf.Tensor) => tf.sum(composite(l as tf.Tensor2D).mul(weights)))(logits);
      assert.ok(maxDifference(ours, reference) < 1e-5, `gradient differs by ${maxDifference(ours, reference)}`);
    });
  });

  it('tiedOutputCrossEntropy and its gradients equal the product followed by the composite loss', () => {
    tf.tidy(() => {
      const hidden = tf.randomNormal([6, 8], 0, 1, 'float32', 13) as tf.Tensor2D;
      const table = tf.randomNormal([30, 8], 0, 1, 'float32', 14) as tf.Tensor2D;
      const labels = tf.tensor1d([0, 29, 3, 3, 11, 7], 'int32');
      const weights = tf.randomNormal([6], 0, 1, 'float32', 15);
      const composite = (h: tf.Tensor, t: tf.Tensor) => {
        const logits = tf.matMul(h as tf.Tensor2D, t as tf.Tensor2D, false, true);
        return tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(logits, tf.oneHot(labels, 30)), -1));
      };
      const ours = (h: tf.Tensor, t: tf.Tensor) => tiedOutputCrossEntropy(h as tf.Tensor2D, t as tf.Tensor2D, labels);
      assert.ok(maxDifference(ours(hidden, table), composite(hidden, table)) < 1e-4);
      const weighted = (f: (h: tf.Tensor, t: tf.Tensor) => tf.Tensor) => (h: tf.Tensor, t: tf.Tensor) => tf.sum(f(h, t).mul(weights));
      const [dHidden, dTable] = tf.grads(weighted(ours))([hidden, table]);
      const [refHidden, refTable] = tf.grads(weighted(composite))([hidden, table]);
      assert.ok(maxDifference(dHidden, refHidden) < 1e-4, `d hidden differs by ${maxDifference(dHidden, refHidden)}`);
      assert.ok(maxDifference(dTable, refTable) < 1e-4, `d table differs by ${maxDifference(dTable, refTable)}`);
    });
  });

  it('FlatAdam takes the same steps as tf.train.adam', () => {
    const start = [tf.randomNormal([5, 3], 0, 1, 'float32', 5), tf.randomNormal([3], 0, 1, 'float32', 6)];
    const run = (useFlat: boolean) => {
      const variables = start.map((t) => tf.variable(t.clone()));
      const target = tf.randomNormal([4, 3], 0, 1, 'float32', 7);
      const inputs = tf.randomNormal([4, 5], 0, 1, 'float32', 8);
      const loss = () => tf.tidy(() => tf.mean(tf.square(tf.matMul(inputs, variables[0]).add(variables[1]).sub(target))) as tf.Scalar);
      const flat = new FlatAdam(variables, { learningRate: 0.05 });
      const reference = tf.train.adam(0.05);
      for (let i = 0; i < 50; i++) (useFlat ? flat.minimize(loss) : reference.minimize(loss, true)!).dispose();
      flat.dispose();
      reference.dispose();
      tf.dispose([target, inputs]);
      return variables;
    };
    const flat = run(true);
    const reference = run(false);
    flat.forEach((v, i) => assert.ok(maxDifference(v, reference[i]) < 1e-4, `variable ${i} differs by ${maxDifference(v, reference[i])}`));
    tf.dispose([...flat, ...reference, ...start]);
  });

  it('FlatAdam state round-trips through getWeights/setWeights', () => {
    const variable = tf.variable(tf.ones([4]));
    const loss = () => tf.sum(tf.square(variable)) as tf.Scalar;
    const first = new FlatAdam([variable], { learningRate: 0.1 });
    for (let i = 0; i < 3; i++) first.minimize(loss).dispose();
    const saved = first.getWeights().map((w) => ({ name: w.name, tensor: w.tensor.clone() }));
    const resumed = new FlatAdam([variable], { learningRate: 0.1 });
    resumed.setWeights(saved);
    const before = variable.clone();
    first.minimize(loss).dispose();
    const afterFirst = variable.clone();
    variable.assign(before);
    resumed.minimize(loss).dispose();
    assert.equal(maxDifference(afterFirst, variable), 0);
    assert.throws(() => resumed.setWeights(saved.slice(1)), /iterations/);
    tf.dispose([variable, before, afterFirst, ...saved.map((w) => w.tensor)]);
    first.dispose();
    resumed.dispose();
  });

  it('dropout keeps 1 - rate of the elements, scaled to keep the mean, deterministically per seed', () => {
    tf.tidy(() => {
      const x = tf.ones([64, 50, 64]);
      const dropped = dropout(x, 0.2, 11);
      const kept = tf.sum(tf.cast(tf.greater(dropped, 0), 'float32')).dataSync()[0] / x.size;
      assert.ok(Math.abs(kept - 0.8) < 0.01, `kept ${kept}`);
      assert.ok(Math.abs(tf.mean(dropped).dataSync()[0] - 1) < 0.02);
      assert.equal(maxDifference(dropped, dropout(x, 0.2, 11)), 0, 'same seed, same mask');
      assert.ok(maxDifference(dropped, dropout(x, 0.2, 12)) > 0, 'another seed, another mask');
    });
  });

  it('reshapes and casts to what a tensor already is give the same values', () => {
    tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      assert.deepEqual(x.reshape([2, -1]).arraySync(), [[1, 2, 3], [4, 5, 6]]);
      assert.deepEqual(x.reshape([3, 2]).arraySync(), [[1, 2], [3, 4], [5, 6]]);
      assert.deepEqual(tf.cast(x, 'float32').arraySync(), x.arraySync());
      assert.deepEqual(tf.cast(x, 'int32').dtype, 'int32');
      const before = tf.memory().numTensors;
      const same = x.reshape([2, 3]);
      x.dispose();
      assert.deepEqual(same.arraySync(), [[1, 2, 3], [4, 5, 6]], 'the elided reshape keeps its data alive');
      assert.equal(tf.memory().numTensors, before);
    });
  });
});
