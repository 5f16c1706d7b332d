/**
 * A trained intent network frozen for serving: IntentNetwork's forward pass (a weighted
 * bag of embedding rows, ReLU layers, temperature-scaled softmax) in plain JavaScript.
 *
 * Hand-written for the same reason as ml/tabular/mlp-scorer.ts: one message touches a few
 * hundred embedding rows and two small layers (about 100k multiply-adds), while the tfjs
 * path dispatches a gather, a segment sum and a kernel per layer, 0.5 ms and more on a busy
 * event loop. The answer is the same to float32 rounding (test/unit/intent-routing.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { integratedGradients, perPosition } from '../explain';
import type { EncodedText } from './tokenizer';
import type { IntentNetworkConfig } from './intent-model';

interface Layer {
  inputs: number;
  outputs: number;
  /** Row-major [inputs, outputs], as the tfjs kernel. */
  kernel: Float32Array;
  bias: Float32Array;
}

/** IntentNetwork's embedding bag in plain JavaScript: the text's weighted rows of `kernel` [features, width] plus `bias`, in float64. */
export function bagOf(text: EncodedText, kernel: Float32Array, bias: Float32Array): Float64Array {
  const width = bias.length;
  const h = Float64Array.from(bias);
  for (let e = 0; e < text.indices.length; e++) {
    const offset = text.indices[e] * width;
    const weight = text.weights[e];
    for (let o = 0; o < width; o++) h[o] += weight * kernel[offset + o];
  }
  return h;
}

export class IntentScorer {
  /** `layers[0]` is the bag (its kernel one embedding row per feature), the last the output layer. */
  constructor(
    readonly config: IntentNetworkConfig,
    private readonly layers: Layer[],
  ) {}

  /** From weights named as IntentNetwork.namedWeights() names them (`bag/kernel`, `hidden<i>/...`, `output/...`). */
  static fromWeights(config: IntentNetworkConfig, weights: Record<string, Float32Array>): IntentScorer {
    const sizes = [config.features, ...config.hiddenLayers, config.intents.length];
    const layers = sizes.slice(1).map((outputs, i) => {
      const name = i === 0 ? 'bag' : i < sizes.length - 2 ? `hidden${i}` : 'output';
      const [kernel, bias] = [weights[`${name}/kernel`], weights[`${name}/bias`]];
      if (!kernel || !bias) throw new Error(`weights have no ${name} layer`);
      if (kernel.length !== sizes[i] * outputs || bias.length !== outputs) throw new Error(`layer ${name} is not [${sizes[i]}, ${outputs}]`);
      return { inputs: sizes[i], outputs, kernel, bias };
    });
    return new IntentScorer(config, layers);
  }

  /** P(intent) per text, row-major [texts, intents]. */
  predict(texts: readonly EncodedText[]): Float32Array {
    const classes = this.config.intents.length;
    const out = new Float32Array(texts.length * classes);
    texts.forEach((text, row) => {
      const [bag, ...rest] = this.layers;
      let h = bagOf(text, bag.kernel, bag.bias);
      for (const layer of rest) {
        const next = Float64Array.from(layer.bias);
        for (let k = 0; k < layer.inputs; k++) {
          const value = h[k] > 0 ? h[k] : 0; // the ReLU before every layer after the bag
          if (value === 0) continue;
          const offset = k * layer.outputs;
          for (let o = 0; o < layer.outputs; o++) next[o] += value * layer.kernel[offset + o];
        }
        h = next;
      }
      let max = -Infinity;
      for (let c = 0; c < classes; c++) max = Math.max(max, h[c] / this.config.temperature);
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(h[c] / this.config.temperature - max);
      for (let c = 0; c < classes; c++) out[row * classes + c] = Math.exp(h[c] / this.config.temperature - max) / sum;
    });
    return out;
  }

  /**
   * Each entry's (feature's) share of the temperature-scaled logit of `intent`: integrated
   * gradients over the text's weighted embedding rows from the empty text (the bias alone),
   * summed over the embedding width. They add up to logit(text) - logit(empty text).
   * Built in tfjs on demand (only `?explain=true` pays for it); the tensors live for one call.
   */
  entryAttributions(text: EncodedText, intent: number): Float64Array {
    const entries = text.indices.length;
    if (entries === 0) return new Float64Array(0);
    const [bag, ...rest] = this.layers;
    const width = bag.outputs;
    const rows = new Float32Array(entries * width);
    for (let e = 0; e < entries; e++) {
      const offset = text.indices[e] * width;
      for (let o = 0; o < width; o++) rows[e * width + o] = text.weights[e] * bag.kernel[offset + o];
    }
    const attributions = tf.tidy(() => {
      const weights = rest.map((layer) => ({ kernel: tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs]), bias: tf.tensor1d(layer.bias) }));
      const bias = tf.tensor1d(bag.bias);
      const score = (embedded: tf.Tensor) => {
        let h = embedded.sum(1).add(bias) as tf.Tensor2D;
        for (const layer of weights) h = tf.relu(h).matMul(layer.kernel).add(layer.bias);
        return h.slice([0, intent], [-1, 1]).reshape([-1]).div(this.config.temperature) as tf.Tensor1D;
      };
      return integratedGradients(score, tf.tensor2d(rows, [entries, width]));
    });
    return perPosition(attributions, entries);
  }
}
