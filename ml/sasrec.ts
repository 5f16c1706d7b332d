/**
 * SASRec (Kang & McAuley, 2018): a causal self-attention encoder over the item sequence
 * (pre-LayerNorm transformer blocks, learned positions counted back from the most recent
 * item so left padding does not shift them).
 */
import * as tf from '@tensorflow/tfjs';
import { NEG_INF, NextItemModel, type NextItemModelConfig } from './next-item-model';

function dense(x: tf.Tensor3D, w: tf.Variable, b: tf.Variable): tf.Tensor3D {
  const [batch, length, dim] = x.shape;
  return tf.add(tf.matMul(x.reshape([batch * length, dim]), w as tf.Tensor2D), b).reshape([batch, length, -1]) as tf.Tensor3D;
}

function layerNorm(x: tf.Tensor3D, gamma: tf.Variable, beta: tf.Variable): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(1e-8).sqrt()).mul(gamma).add(beta) as tf.Tensor3D;
}

export class SasrecModel extends NextItemModel {
  constructor(config: NextItemModelConfig, initial?: tf.NamedTensorMap) {
    super(config, initial);
    const { maxLen, hiddenDim: d, blocks } = config;
    this.addVariable('position_embedding', [maxLen, d], 'normal');
    for (let b = 0; b < blocks; b++) {
      for (const m of ['query', 'key', 'value', 'output', 'ffn1', 'ffn2']) {
        this.addVariable(`block${b}/${m}/kernel`, [d, d], 'glorot');
        this.addVariable(`block${b}/${m}/bias`, [d], 'zeros');
      }
      for (const n of ['attention_norm', 'ffn_norm']) {
        this.addVariable(`block${b}/${n}/gamma`, [d], 'ones');
        this.addVariable(`block${b}/${n}/beta`, [d], 'zeros');
      }
    }
    this.addVariable('final_norm/gamma', [d], 'ones');
    this.addVariable('final_norm/beta', [d], 'zeros');
  }

  encode(inputs: tf.Tensor2D, training: boolean, dropoutSeed = 0): tf.Tensor3D {
    const { hiddenDim: d, heads, blocks, maxLen } = this.config;
    const [batch, length] = inputs.shape;
    if (length > maxLen) throw new Error(`sequence length ${length} exceeds maxLen ${maxLen}`);
    const drop = this.dropoutFn(training, dropoutSeed);

    const valid = tf.cast(tf.greater(inputs, 0), 'float32').expandDims(-1) as tf.Tensor3D; // [B, L, 1]
    const positions = this.v('position_embedding').slice([maxLen - length, 0], [length, d]);
    let x = tf.gather(this.v('item_embedding'), inputs).mul(Math.sqrt(d)).add(positions) as tf.Tensor3D;
    x = drop(x).mul(valid) as tf.Tensor3D;

    // Additive mask [B, 1, L, L]: a query sees itself and earlier non-padding keys.
    const causal = tf.linalg.bandPart(tf.ones([length, length]), -1, 0);
    const keyValid = valid.reshape([batch, 1, 1, length]);
    const mask = tf.sub(1, tf.mul(causal, keyValid)).mul(NEG_INF);

    const dk = d / heads;
    const split = (t: tf.Tensor3D) => t.reshape([batch, length, heads, dk]).transpose([0, 2, 1, 3]);
    for (let b = 0; b < blocks; b++) {
      const p = `block${b}/`;
      const h = layerNorm(x, this.v(`${p}attention_norm/gamma`), this.v(`${p}attention_norm/beta`));
      const q = split(dense(h, this.v(`${p}query/kernel`), this.v(`${p}query/bias`)));
      const k = split(dense(h, this.v(`${p}key/kernel`), this.v(`${p}key/bias`)));
      const val = split(dense(h, this.v(`${p}value/kernel`), this.v(`${p}value/bias`)));
      const weights = drop(tf.softmax(tf.matMul(q, k, false, true).div(Math.sqrt(dk)).add(mask)));
      const attended = tf.matMul(weights, val).transpose([0, 2, 1, 3]).reshape([batch, length, d]) as tf.Tensor3D;
      x = x.add(drop(dense(attended, this.v(`${p}output/kernel`), this.v(`${p}output/bias`)))) as tf.Tensor3D;
      const f = layerNorm(x, this.v(`${p}ffn_norm/gamma`), this.v(`${p}ffn_norm/beta`));
      const inner = drop(tf.relu(dense(f, this.v(`${p}ffn1/kernel`), this.v(`${p}ffn1/bias`))));
      x = x.add(drop(dense(inner, this.v(`${p}ffn2/kernel`), this.v(`${p}ffn2/bias`)))).mul(valid) as tf.Tensor3D;
    }
    return layerNorm(x, this.v('final_norm/gamma'), this.v('final_norm/beta'));
  }
}
