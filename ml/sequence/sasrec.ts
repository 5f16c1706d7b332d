/**
 * SASRec (Kang & McAuley, 2018): a causal self-attention encoder over the item sequence
 * (pre-LayerNorm transformer blocks, learned positions counted back from the most recent
 * item so left padding does not shift them).
 */
import * as tf from '@tensorflow/tfjs';
import { NEG_INF, NextItemModel, type NextItemModelConfig } from './next-item-model';
import { dense, layerNorm } from '../layers';

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

  /** Additive causal masks [L, L] by length, made once: they are the same every step. */
  private readonly causalMasks = new Map<number, tf.Tensor2D>();

  private causalMask(length: number): tf.Tensor2D {
    let mask = this.causalMasks.get(length);
    if (!mask) {
      mask = tf.keep(tf.tidy(() => tf.sub(1, tf.linalg.bandPart(tf.ones([length, length]), -1, 0)).mul(NEG_INF) as tf.Tensor2D));
      this.causalMasks.set(length, mask);
    }
    return mask;
  }

  encode(inputs: tf.Tensor2D, training: boolean, dropoutSeed = 0): tf.Tensor3D {
    const { hiddenDim: d, heads, blocks, maxLen } = this.config;
    const [batch, length] = inputs.shape;
    if (length > maxLen) throw new Error(`sequence length ${length} exceeds maxLen ${maxLen}`);
    const drop = this.dropoutFn(training, dropoutSeed);
    const positionsCount = batch * length;

    // Activations stay [batch * length, d] so that every dense layer is one matMul.
    const validRows = tf.cast(tf.greater(inputs, 0), 'float32'); // [B, L]
    const valid = validRows.reshape([positionsCount, 1]);
    const positions = this.v('position_embedding').slice([maxLen - length, 0], [length, d]);
    const embedded = tf.gather(this.v('item_embedding'), inputs).mul(Math.sqrt(d)).add(positions).reshape([positionsCount, d]) as tf.Tensor2D;
    let x = drop(embedded).mul(valid) as tf.Tensor2D;

    // Additive mask: a query sees itself and earlier non-padding keys.
    const keyPadding = tf.sub(1, validRows).mul(NEG_INF).reshape(heads === 1 ? [batch, 1, length] : [batch, 1, 1, length]);
    const mask = tf.add(this.causalMask(length), keyPadding);

    const dk = d / heads;
    // With one head (the default) [B, L, d] is already the per-head layout.
    const toHeads = (t: tf.Tensor2D) =>
      heads === 1 ? t.reshape([batch, length, d]) : t.reshape([batch, length, heads, dk]).transpose([0, 2, 1, 3]);
    const fromHeads = (t: tf.Tensor) =>
      (heads === 1 ? t : t.transpose([0, 2, 1, 3])).reshape([positionsCount, d]) as tf.Tensor2D;
    for (let b = 0; b < blocks; b++) {
      const p = `block${b}/`;
      const h = layerNorm(x, this.v(`${p}attention_norm/gamma`), this.v(`${p}attention_norm/beta`));
      const q = toHeads(dense(h, this.v(`${p}query/kernel`), this.v(`${p}query/bias`)).mul(1 / Math.sqrt(dk)));
      const k = toHeads(dense(h, this.v(`${p}key/kernel`), this.v(`${p}key/bias`)));
      const val = toHeads(dense(h, this.v(`${p}value/kernel`), this.v(`${p}value/bias`)));
      const weights = drop(tf.softmax(tf.matMul(q, k, false, true).add(mask)));
      const attended = fromHeads(tf.matMul(weights, val));
      x = x.add(drop(dense(attended, this.v(`${p}output/kernel`), this.v(`${p}output/bias`))));
      const f = layerNorm(x, this.v(`${p}ffn_norm/gamma`), this.v(`${p}ffn_norm/beta`));
      const inner = drop(tf.relu(dense(f, this.v(`${p}ffn1/kernel`), this.v(`${p}ffn1/bias`))));
      x = x.add(drop(dense(inner, this.v(`${p}ffn2/kernel`), this.v(`${p}ffn2/bias`)))).mul(valid);
    }
    return layerNorm(x, this.v('final_norm/gamma'), this.v('final_norm/beta')).reshape([batch, length, d]);
  }

  override dispose(): void {
    tf.dispose([...this.causalMasks.values()]);
    this.causalMasks.clear();
    super.dispose();
  }
}
