/**
 * What every next-item model shares: an item embedding table tied to the output layer
 * (index 0 is padding), a sequence encoder that subclasses define, the training loss and
 * full-catalogue scoring. Written with TensorFlow.js ops and explicit variables rather
 * than the Layers API, which has no multi-head attention and no tied output layer.
 *
 * The loss is softmax cross-entropy over all items ("full"), or over the target and a
 * shared set of uniformly sampled negatives ("sampled") when the catalogue is too large
 * for the backend at hand; with uniform proposals the log-Q correction is a constant and
 * cancels out.
 */
import * as tf from '@tensorflow/tfjs';
import { dropout, sparseSoftmaxCrossEntropy, tiedOutputCrossEntropy } from '../layers';

export type NextItemArchitecture = 'sasrec' | 'gru';

export interface NextItemModelConfig {
  architecture: NextItemArchitecture;
  /** Items are 1..numItems; 0 is padding. */
  numItems: number;
  maxLen: number;
  hiddenDim: number;
  /** Transformer blocks (SASRec) or stacked GRU layers. */
  blocks: number;
  heads: number;
  dropout: number;
  seed: number;
}

export const NEG_INF = -1e9;

export type Initializer = 'normal' | 'glorot' | 'zeros' | 'ones';

let instances = 0;

export abstract class NextItemModel {
  /** Keyed by logical weight name; the tf variables get a per-instance prefix because the
   * engine requires unique variable names and two models (candidate, champion) coexist. */
  readonly variables = new Map<string, tf.Variable>();
  private readonly instance = `model${instances++}`;
  private initSeed: number;

  constructor(
    readonly config: NextItemModelConfig,
    private readonly initial?: tf.NamedTensorMap,
  ) {
    this.initSeed = config.seed;
    this.addVariable('item_embedding', [config.numItems + 1, config.hiddenDim], 'normal');
  }

  /** Creates a variable, from the given weights when loading, else freshly initialised. */
  protected addVariable(name: string, shape: number[], kind: Initializer): void {
    const given = this.initial?.[name];
    if (this.initial && !given) throw new Error(`weights have no tensor "${name}"`);
    const limit = Math.sqrt(6 / (shape[0] + shape[shape.length - 1]));
    const value =
      given ??
      (kind === 'zeros'
        ? tf.zeros(shape)
        : kind === 'ones'
          ? tf.ones(shape)
          : kind === 'normal'
            ? tf.truncatedNormal(shape, 0, 0.02, 'float32', this.initSeed++)
            : tf.randomUniform(shape, -limit, limit, 'float32', this.initSeed++));
    this.variables.set(name, tf.variable(value, true, `${this.instance}/${name}`));
    if (!given) value.dispose();
  }

  protected v(name: string): tf.Variable {
    const variable = this.variables.get(name);
    if (!variable) throw new Error(`no variable ${name}`);
    return variable;
  }

  protected dropoutFn(training: boolean, seed: number): <T extends tf.Tensor>(x: T) => T {
    let next = seed;
    const rate = this.config.dropout;
    return <T extends tf.Tensor>(x: T): T => (training && rate > 0 ? dropout(x, rate, next++) : x);
  }

  /** Hidden states [batch, length, d] for left-padded item sequences [batch, length]. */
  abstract encode(inputs: tf.Tensor2D, training: boolean, dropoutSeed?: number): tf.Tensor3D;

  /**
   * Mean next-item cross-entropy over the batch's real targets: `positions` are their
   * indices in the flattened [batch * length] inputs and `targets` their items, so padding
   * costs nothing in the output layer. `negatives` (int32 [S]) selects sampled softmax;
   * without it every item is a candidate.
   */
  loss(inputs: tf.Tensor2D, positions: tf.Tensor1D, targets: tf.Tensor1D, dropoutSeed: number, negatives?: tf.Tensor1D): tf.Scalar {
    const { hiddenDim: d, numItems } = this.config;
    const hidden = tf.gather(this.encode(inputs, true, dropoutSeed).reshape([-1, d]), positions) as tf.Tensor2D; // [P, d]
    const embeddings = this.v('item_embedding') as tf.Tensor2D;
    let perPosition: tf.Tensor1D;
    if (negatives) {
      // Class 0 is the target; a sampled "negative" that is the target itself is not a negative.
      const positive = tf.sum(hidden.mul(tf.gather(embeddings, targets)), -1, true);
      const sampled = tf.matMul(hidden, tf.gather(embeddings, negatives), false, true);
      const accidental = tf.equal(targets.expandDims(1), negatives.expandDims(0));
      const logits = tf.concat([positive, tf.where(accidental, tf.fill(sampled.shape, NEG_INF), sampled)], 1) as tf.Tensor2D;
      perPosition = sparseSoftmaxCrossEntropy(logits, tf.zeros([targets.size], 'int32'));
    } else {
      // Items 1..numItems; row 0 of the table is padding and never a candidate.
      perPosition = tiedOutputCrossEntropy(hidden, embeddings.slice([1, 0], [numItems, d]), tf.sub(targets, tf.scalar(1, 'int32')));
    }
    return tf.mean(perPosition);
  }

  /** Scores of every item (row-major [batch, numItems + 1]) after each history. */
  async scoreNext(histories: Int32Array[]): Promise<Float32Array> {
    const { maxLen, hiddenDim: d, numItems } = this.config;
    const length = Math.max(1, Math.min(maxLen, Math.max(...histories.map((h) => h.length))));
    const scores = tf.tidy(() => {
      const inputs = tf.tensor2d(leftPad(histories, length), [histories.length, length], 'int32');
      const last = this.encode(inputs, false).slice([0, length - 1, 0], [histories.length, 1, d]).reshape([histories.length, d]);
      return tf.matMul(last as tf.Tensor2D, this.v('item_embedding') as tf.Tensor2D, false, true);
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
