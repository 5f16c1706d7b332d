/**
 * SASRec (Kang & McAuley, 2018): a causal self-attention encoder over the item sequence
 * whose output at every position is scored against the (tied) item embeddings to predict
 * the next item. Written with TensorFlow.js ops and explicit variables rather than the
 * Layers API, which has no multi-head attention and no tied output layer.
 *
 * Trained with softmax cross-entropy over all items ("full"), or over the target and a
 * shared set of uniformly sampled negatives ("sampled") when the catalogue is too large
 * for the backend at hand; with uniform proposals the log-Q correction is a constant and
 * cancels out.
 */
import * as tf from '@tensorflow/tfjs';

export interface SasrecConfig {
  /** Items are 1..numItems; 0 is padding. */
  numItems: number;
  maxLen: number;
  hiddenDim: number;
  blocks: number;
  heads: number;
  dropout: number;
  seed: number;
}

const NEG_INF = -1e9;

function dense(x: tf.Tensor3D, w: tf.Variable, b: tf.Variable): tf.Tensor3D {
  const [batch, length, dim] = x.shape;
  return tf.add(tf.matMul(x.reshape([batch * length, dim]), w as tf.Tensor2D), b).reshape([batch, length, -1]) as tf.Tensor3D;
}

function layerNorm(x: tf.Tensor3D, gamma: tf.Variable, beta: tf.Variable): tf.Tensor3D {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(1e-8).sqrt()).mul(gamma).add(beta) as tf.Tensor3D;
}

export class SasrecModel {
  readonly variables = new Map<string, tf.Variable>();

  constructor(
    readonly config: SasrecConfig,
    initial?: tf.NamedTensorMap,
  ) {
    const { numItems, maxLen, hiddenDim: d, blocks } = config;
    let seed = config.seed;
    const init = (name: string, shape: number[], kind: 'normal' | 'glorot' | 'zeros' | 'ones') => {
      const given = initial?.[name];
      if (initial && !given) throw new Error(`weights have no tensor "${name}"`);
      const value =
        given ??
        (kind === 'zeros'
          ? tf.zeros(shape)
          : kind === 'ones'
            ? tf.ones(shape)
            : kind === 'normal'
              ? tf.truncatedNormal(shape, 0, 0.02, 'float32', seed++)
              : tf.randomUniform(shape, -Math.sqrt(6 / (shape[0] + shape[1])), Math.sqrt(6 / (shape[0] + shape[1])), 'float32', seed++));
      this.variables.set(name, tf.variable(value, true, name));
      if (!given) value.dispose();
    };
    init('item_embedding', [numItems + 1, d], 'normal');
    init('position_embedding', [maxLen, d], 'normal');
    for (let b = 0; b < blocks; b++) {
      for (const m of ['query', 'key', 'value', 'output', 'ffn1', 'ffn2']) {
        init(`block${b}/${m}/kernel`, [d, d], 'glorot');
        init(`block${b}/${m}/bias`, [d], 'zeros');
      }
      for (const n of ['attention_norm', 'ffn_norm']) {
        init(`block${b}/${n}/gamma`, [d], 'ones');
        init(`block${b}/${n}/beta`, [d], 'zeros');
      }
    }
    init('final_norm/gamma', [d], 'ones');
    init('final_norm/beta', [d], 'zeros');
  }

  private v(name: string): tf.Variable {
    const variable = this.variables.get(name);
    if (!variable) throw new Error(`no variable ${name}`);
    return variable;
  }

  /** Hidden states [batch, length, d] for left-padded item sequences [batch, length]. */
  encode(inputs: tf.Tensor2D, training: boolean, dropoutSeed = 0): tf.Tensor3D {
    const { hiddenDim: d, heads, blocks, dropout, maxLen } = this.config;
    const [batch, length] = inputs.shape;
    if (length > maxLen) throw new Error(`sequence length ${length} exceeds maxLen ${maxLen}`);
    let seed = dropoutSeed;
    const drop = <T extends tf.Tensor>(x: T): T => (training && dropout > 0 ? (tf.dropout(x, dropout, undefined, seed++) as T) : x);

    const valid = tf.cast(tf.greater(inputs, 0), 'float32').expandDims(-1) as tf.Tensor3D; // [B, L, 1]
    // Positions count back from the most recent item, so left padding does not shift them.
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

  /**
   * Mean next-item cross-entropy over non-padding positions. `negatives` (int32 [S])
   * selects sampled softmax; without it every item is a candidate.
   */
  loss(inputs: tf.Tensor2D, targets: tf.Tensor2D, dropoutSeed: number, negatives?: tf.Tensor1D): tf.Scalar {
    const d = this.config.hiddenDim;
    const hidden = this.encode(inputs, true, dropoutSeed).reshape([-1, d]) as tf.Tensor2D; // [N, d]
    const flatTargets = targets.reshape([-1]) as tf.Tensor1D;
    const weight = tf.cast(tf.greater(flatTargets, 0), 'float32');
    const embeddings = this.v('item_embedding') as tf.Tensor2D;
    const positive = tf.sum(hidden.mul(tf.gather(embeddings, flatTargets)), -1); // [N]
    let logits: tf.Tensor2D;
    if (negatives) {
      const sampled = tf.matMul(hidden, tf.gather(embeddings, negatives), false, true);
      // A sampled "negative" that is the target itself is not a negative.
      const accidental = tf.equal(flatTargets.expandDims(1), negatives.expandDims(0));
      logits = tf.concat([positive.expandDims(1), tf.where(accidental, tf.fill(sampled.shape, NEG_INF), sampled)], 1) as tf.Tensor2D;
    } else {
      const padding = tf.oneHot(tf.tensor1d([0], 'int32'), this.config.numItems + 1).mul(NEG_INF);
      logits = tf.matMul(hidden, embeddings, false, true).add(padding) as tf.Tensor2D;
    }
    const perPosition = tf.logSumExp(logits, -1).sub(positive);
    return tf.div(tf.sum(perPosition.mul(weight)), tf.maximum(tf.sum(weight), 1)) as tf.Scalar;
  }

  /** Scores of every item (row-major [batch, numItems + 1]) after each history. */
  async scoreNext(histories: Int32Array[]): Promise<Float32Array> {
    const { maxLen, hiddenDim: d, numItems } = this.config;
    const length = Math.max(1, Math.min(maxLen, Math.max(...histories.map((h) => h.length))));
    const scores = tf.tidy(() => {
      const inputs = tf.tensor2d(leftPad(histories, length), [histories.length, length], 'int32');
      const last = this.encode(inputs, false).slice([0, length - 1, 0], [histories.length, 1, d]).reshape([histories.length, d]);
      const all = tf.matMul(last as tf.Tensor2D, this.v('item_embedding') as tf.Tensor2D, false, true);
      return all;
    });
    const values = (await scores.data()) as Float32Array;
    scores.dispose();
    if (values.length !== histories.length * (numItems + 1)) throw new Error('unexpected score shape');
    return values;
  }

  namedWeights(): tf.NamedTensorMap {
    return Object.fromEntries(this.variables.entries());
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }
}

/** The last `length` items of each sequence, left-padded with 0, row-major. */
export function leftPad(sequences: ArrayLike<number>[], length: number): Int32Array {
  const out = new Int32Array(sequences.length * length);
  sequences.forEach((seq, row) => {
    const take = Math.min(length, seq.length);
    for (let i = 0; i < take; i++) out[row * length + (length - take) + i] = seq[seq.length - take + i];
  });
  return out;
}
