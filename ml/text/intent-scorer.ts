/**
 * A trained intent network frozen for serving: IntentNetwork's forward pass (a weighted
 * bag of embedding rows, ReLU layers, temperature-scaled softmax) in plain JavaScript.
 *
 * Hand-written for the same reason as ml/tabular/mlp-scorer.ts: one message touches a few
 * hundred embedding rows and two small layers (about 100k multiply-adds), while the tfjs
 * path dispatches a gather, a segment sum and a kernel per layer, 0.5 ms and more on a busy
 * event loop. The answer is the same to float32 rounding (test/unit/intent-routing.test.ts).
 */
import { DEFAULT_PATH_STEPS } from '../explain';
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
   * gradients (ml/explain.ts's definition, midpoint rule) over the text's weighted embedding
   * rows from the empty text (the bias alone), summed over the embedding width; they add up
   * to logit(text) - logit(empty text). Every row enters the bag by a sum, so all share one
   * gradient per path step, and the whole path costs `steps` forward and backward passes of
   * the small layers: hand-written like predict, since the tfjs path (ml/explain.ts, which
   * test/unit/explain.test.ts checks this against) cost 15 ms a message in dispatch.
   */
  entryAttributions(text: EncodedText, intent: number, steps = DEFAULT_PATH_STEPS): Float64Array {
    const [bag, ...rest] = this.layers;
    const width = bag.outputs;
    const rows = bagOf(text, bag.kernel, new Float32Array(width));
    const meanGradient = new Float64Array(width);
    // Buffers reused by every step: the pre-activation entering each layer after the bag, and the gradient at each.
    const inputs = [bag, ...rest].map((layer) => new Float64Array(layer.outputs));
    const gradients = [bag, ...rest].map((layer) => new Float64Array(layer.outputs));
    const output = inputs.length - 1;
    for (let step = 0; step < steps; step++) {
      const alpha = (step + 0.5) / steps;
      for (let o = 0; o < width; o++) inputs[0][o] = bag.bias[o] + alpha * rows[o];
      rest.forEach((layer, i) => {
        const [h, next] = [inputs[i], inputs[i + 1]];
        next.set(layer.bias);
        for (let k = 0; k < layer.inputs; k++) {
          const value = h[k];
          if (value <= 0) continue;
          const offset = k * layer.outputs;
          for (let o = 0; o < layer.outputs; o++) next[o] += value * layer.kernel[offset + o];
        }
      });
      // Backward from d(logit_intent / temperature), through each layer and the ReLU before it.
      gradients[output].fill(0);
      gradients[output][intent] = 1 / this.config.temperature;
      for (let i = rest.length - 1; i >= 0; i--) {
        const layer = rest[i];
        const [h, above, below] = [inputs[i], gradients[i + 1], gradients[i]];
        for (let k = 0; k < layer.inputs; k++) {
          if (h[k] <= 0) {
            below[k] = 0;
            continue;
          }
          const offset = k * layer.outputs;
          let sum = 0;
          for (let o = 0; o < layer.outputs; o++) sum += above[o] * layer.kernel[offset + o];
          below[k] = sum;
        }
      }
      for (let o = 0; o < width; o++) meanGradient[o] += gradients[0][o];
    }
    const attributions = new Float64Array(text.indices.length);
    for (let e = 0; e < attributions.length; e++) {
      const offset = text.indices[e] * width;
      let dot = 0;
      for (let o = 0; o < width; o++) dot += bag.kernel[offset + o] * meanGradient[o];
      attributions[e] = (text.weights[e] * dot) / steps;
    }
    return attributions;
  }
}
