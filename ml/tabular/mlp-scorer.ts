/**
 * A trained fraud network frozen for serving: FraudModel's forward pass and calibration in
 * plain JavaScript over Float32Array weights, with a gradient x input explanation per row.
 *
 * Hand-written because the network is tiny: a [15 -> 32 -> 1] MLP is about 500
 * multiply-adds per transaction, while every TensorFlow.js call (tensor creation, a kernel
 * per op, dataSync) costs 0.1-0.3 ms of dispatch on the native backend and more on a busy
 * event loop. Serving one transaction through tfjs was two calls (predict, explain) of a
 * dozen kernels; here it is a few microseconds, and the answer is the same to float32
 * rounding (test/unit/tabular-mlp-scorer.test.ts). Training and batch evaluation keep tfjs.
 */
import { calibrate } from './calibration';
import { checkFeatureMatrix } from './standardizer';
import { topContributions, type FeatureContribution, type FraudScorer } from './scorer';
import type { FraudModelConfig } from './fraud-mlp';

interface DenseLayer {
  inputs: number;
  outputs: number;
  /** Row-major [inputs, outputs], as the tfjs kernel. */
  kernel: Float32Array;
  bias: Float32Array;
}

/** A row's scores: the calibrated probability and each feature's contribution to the log-odds. */
export interface ScoredRows {
  probabilities: Float32Array;
  contributions: FeatureContribution[][];
}

export class MlpScorer implements FraudScorer {
  private readonly mean: Float64Array;
  private readonly scale: Float64Array;

  /** `layers` are the hidden layers then the output layer (one unit), as FraudModel names them. */
  constructor(
    readonly config: FraudModelConfig,
    private readonly layers: DenseLayer[],
  ) {
    const sizes = [config.featureNames.length, ...config.hiddenLayers, 1];
    if (layers.length !== sizes.length - 1) throw new Error(`a ${config.hiddenLayers.join('-')} network has ${sizes.length - 1} layers, got ${layers.length}`);
    layers.forEach((layer, i) => {
      const [inputs, outputs] = [sizes[i], sizes[i + 1]];
      if (layer.inputs !== inputs || layer.outputs !== outputs || layer.kernel.length !== inputs * outputs || layer.bias.length !== outputs) {
        throw new Error(`layer ${i} has ${layer.kernel.length} kernel and ${layer.bias.length} bias values; a [${inputs}, ${outputs}] layer has ${inputs * outputs} and ${outputs}`);
      }
    });
    this.mean = Float64Array.from(config.standardizer.mean);
    this.scale = Float64Array.from(config.standardizer.scale);
  }

  /** Builds the scorer from weights named as FraudModel.namedWeights() names them (`hidden0/kernel`, ..., `output/bias`). */
  static fromWeights(config: FraudModelConfig, weights: Record<string, Float32Array>): MlpScorer {
    const sizes = [config.featureNames.length, ...config.hiddenLayers, 1];
    const layers = sizes.slice(1).map((outputs, i) => {
      const name = i < config.hiddenLayers.length ? `hidden${i}` : 'output';
      const kernel = weights[`${name}/kernel`];
      const bias = weights[`${name}/bias`];
      if (!kernel || !bias) throw new Error(`weights have no ${name} layer`);
      return { inputs: sizes[i], outputs, kernel, bias };
    });
    return new MlpScorer(config, layers);
  }

  predict(x: Float32Array, rows: number): Float32Array {
    return this.score(x, rows, 0).probabilities;
  }

  explain(x: Float32Array, rows: number, topK: number): FeatureContribution[][] {
    return this.score(x, rows, topK).contributions;
  }

  /** Probabilities and, when `topK` > 0, the top contributions, in one forward and backward pass per row. */
  score(x: Float32Array, rows: number, topK: number): ScoredRows {
    const features = this.config.featureNames.length;
    checkFeatureMatrix(x, features, rows);
    const probabilities = new Float32Array(rows);
    const contributions = topK > 0 ? new Float64Array(rows * features) : undefined;
    const input = new Float64Array(features);
    const activations = this.layers.map((layer) => new Float64Array(layer.outputs));
    for (let row = 0; row < rows; row++) {
      for (let j = 0; j < features; j++) input[j] = (x[row * features + j] - this.mean[j]) / this.scale[j];
      let previous: Float64Array = input;
      this.layers.forEach((layer, i) => {
        const out = activations[i];
        const hidden = i < this.layers.length - 1;
        for (let o = 0; o < layer.outputs; o++) out[o] = layer.bias[o];
        for (let k = 0; k < layer.inputs; k++) {
          const value = previous[k];
          if (value === 0) continue;
          const offset = k * layer.outputs;
          for (let o = 0; o < layer.outputs; o++) out[o] += value * layer.kernel[offset + o];
        }
        if (hidden) for (let o = 0; o < layer.outputs; o++) if (out[o] < 0) out[o] = 0;
        previous = out;
      });
      const logit = activations[activations.length - 1][0];
      probabilities[row] = calibrate(this.config.calibration, logit);
      if (contributions) this.contributions(input, activations, contributions.subarray(row * features, (row + 1) * features));
    }
    return { probabilities, contributions: contributions ? topContributions(contributions, rows, this.config.featureNames, topK) : [] };
  }

  /**
   * Gradient x input in standardised space: contribution_j = slope * d logit / d s_j * s_j,
   * with s the standardised features, i.e. the first-order change of the calibrated log-odds
   * from moving feature j from its training mean (s_j = 0) to its value; exact for a linear
   * model. Chosen for serving cost: one backward pass through the ReLU masks (a unit at 0
   * passes no gradient), where occlusion needs a forward pass per feature and integrated
   * gradients one per path step.
   */
  private contributions(input: Float64Array, activations: Float64Array[], out: Float64Array): void {
    const output = this.layers[this.layers.length - 1];
    let gradient = Float64Array.from(output.kernel);
    for (let i = this.layers.length - 2; i >= 0; i--) {
      const layer = this.layers[i];
      const active = activations[i];
      for (let o = 0; o < layer.outputs; o++) if (active[o] <= 0) gradient[o] = 0;
      const next = new Float64Array(layer.inputs);
      for (let k = 0; k < layer.inputs; k++) {
        const offset = k * layer.outputs;
        let sum = 0;
        for (let o = 0; o < layer.outputs; o++) sum += gradient[o] * layer.kernel[offset + o];
        next[k] = sum;
      }
      gradient = next;
    }
    const slope = this.config.calibration.slope;
    for (let j = 0; j < input.length; j++) out[j] = gradient[j] * input[j] * slope;
  }
}
