/**
 * A GRU4Rec-style recurrent encoder (Hidasi et al., 2016; trained here with the same
 * next-item cross-entropy as SASRec): stacked GRU layers over the item embeddings. Left
 * padding is skipped by carrying the hidden state unchanged through padded steps.
 */
import * as tf from '@tensorflow/tfjs';
import { NextItemModel, type NextItemModelConfig } from './next-item-model';

export class GruModel extends NextItemModel {
  constructor(config: NextItemModelConfig, initial?: tf.NamedTensorMap) {
    super(config, initial);
    const d = config.hiddenDim;
    for (let layer = 0; layer < config.blocks; layer++) {
      // Update, reset and candidate gates side by side: [z | r | h].
      this.addVariable(`gru${layer}/input_kernel`, [d, 3 * d], 'glorot');
      this.addVariable(`gru${layer}/recurrent_kernel`, [d, 3 * d], 'glorot');
      this.addVariable(`gru${layer}/bias`, [3 * d], 'zeros');
    }
  }

  encode(inputs: tf.Tensor2D, training: boolean, dropoutSeed = 0): tf.Tensor3D {
    const { hiddenDim: d, blocks } = this.config;
    const [batch, length] = inputs.shape;
    const drop = this.dropoutFn(training, dropoutSeed);
    const valid = tf.cast(tf.greater(inputs, 0), 'float32').expandDims(-1) as tf.Tensor3D; // [B, L, 1]
    let x = drop(tf.gather(this.v('item_embedding'), inputs)) as tf.Tensor3D;
    for (let layer = 0; layer < blocks; layer++) {
      const p = `gru${layer}/`;
      const recurrent = this.v(`${p}recurrent_kernel`) as tf.Tensor2D;
      // Input projections for all steps at once; only the recurrence is sequential.
      const projected = tf
        .add(tf.matMul(x.reshape([batch * length, d]), this.v(`${p}input_kernel`) as tf.Tensor2D), this.v(`${p}bias`))
        .reshape([batch, length, 3 * d]);
      let h = tf.zeros([batch, d]) as tf.Tensor2D;
      const outputs: tf.Tensor2D[] = [];
      // One unstack and one split per step instead of a slice per gate and step: the
      // recurrence is hundreds of small kernels, and each launch costs the same.
      const steps = tf.unstack(projected, 1) as tf.Tensor2D[];
      const validSteps = tf.unstack(valid.reshape([batch, length]), 1).map((m) => m.expandDims(1));
      for (let t = 0; t < length; t++) {
        const [xz, xr, xh] = tf.split(steps[t], 3, 1);
        const [hz, hr, hh] = tf.split(tf.matMul(h, recurrent), 3, 1);
        const z = tf.sigmoid(tf.add(xz, hz));
        const r = tf.sigmoid(tf.add(xr, hr));
        const candidate = tf.tanh(tf.add(xh, tf.mul(r, hh)));
        // h' = z h + (1 - z) c, kept as h where the input is padding: h + m (1 - z)(c - h).
        const m = validSteps[t];
        h = tf.add(h, tf.mul(tf.mul(m, tf.sub(1, z)), tf.sub(candidate, h))) as tf.Tensor2D;
        outputs.push(h);
      }
      x = drop(tf.stack(outputs, 1) as tf.Tensor3D);
    }
    return x.mul(valid) as tf.Tensor3D;
  }
}
