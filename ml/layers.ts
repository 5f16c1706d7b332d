/**
 * Building blocks shared by the next-item models, written for the native backend, where
 * each kernel launch costs tens of microseconds whatever its size: activations stay 2-D
 * [positions, features] so dense layers need no reshapes, layer normalisation has a
 * hand-derived gradient (11 kernels instead of the ~25 that autodiff records), and dropout
 * draws its noise inside TensorFlow rather than in JavaScript.
 */
import * as tf from '@tensorflow/tfjs';

/** One dense layer of a network: its weights are `<name>/kernel` [inputs, outputs] and `<name>/bias` [outputs]. */
export interface DenseShape {
  name: string;
  inputs: number;
  outputs: number;
}

/**
 * Fresh variables for a stack of dense layers: layer i's kernel uniform in ±limit(layer), drawn
 * with seed + i (all zeros where the limit is 0), and zero biases.
 */
export function initialDenseVariables(layers: readonly DenseShape[], seed: number, limit: (layer: DenseShape) => number): Map<string, tf.Variable> {
  const variables = new Map<string, tf.Variable>();
  layers.forEach((layer, i) => {
    const { name, inputs, outputs } = layer;
    const bound = limit(layer);
    variables.set(`${name}/kernel`, tf.tidy(() => tf.variable(bound === 0 ? tf.zeros([inputs, outputs]) : tf.randomUniform([inputs, outputs], -bound, bound, 'float32', seed + i))));
    variables.set(`${name}/bias`, tf.tidy(() => tf.variable(tf.zeros([outputs]))));
  });
  return variables;
}

/**
 * A stack of dense layers' variables on given weights, checked against the shapes the
 * network expects (a missing, unexpected or misshapen tensor is named). tf.variable of a
 * tensor shares its data by reference count: no copy, and the tensors stay the caller's to dispose.
 */
export function denseVariables(layers: readonly DenseShape[], tensors: Record<string, tf.Tensor>, network: string): Map<string, tf.Variable> {
  const expected = layers.flatMap(({ name, inputs, outputs }) => [
    { name: `${name}/kernel`, shape: [inputs, outputs] },
    { name: `${name}/bias`, shape: [outputs] },
  ]);
  const unexpected = Object.keys(tensors).filter((name) => !expected.some((e) => e.name === name));
  if (unexpected.length > 0) throw new Error(`weights ${unexpected.join(', ')} are not part of ${network}`);
  const variables = new Map<string, tf.Variable>();
  for (const { name, shape } of expected) {
    const tensor = tensors[name];
    if (!tensor) throw new Error(`weights have no tensor "${name}"`);
    if (!tf.util.arraysEqual(tensor.shape, shape)) throw new Error(`weight ${name} has shape [${tensor.shape}], expected [${shape}]`);
    variables.set(name, tf.variable(tensor, true));
  }
  return variables;
}

/** x W + b on [positions, in] activations. */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.add(tf.matMul(x, kernel as tf.Tensor2D), bias);
}

const LAYER_NORM_EPSILON = 1e-8;

/**
 * Layer normalisation over the last axis of [positions, features]. With g = dy * gamma and
 * n the normalised input, dx = (g - mean(g) - n * mean(g * n)) / std.
 */
export const layerNorm = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, gamma, beta] = args as tf.Tensor[];
  const save = args[3] as tf.GradSaveFunc;
  const centered = tf.sub(x, tf.mean(x, -1, true));
  const inverseStd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), LAYER_NORM_EPSILON));
  const normalized = tf.mul(centered, inverseStd);
  save([normalized, inverseStd, gamma]);
  return {
    value: tf.add(tf.mul(normalized, gamma), beta),
    gradFunc: (dy: tf.Tensor, [n, inverse, g]: tf.Tensor[]) => {
      const scaled = tf.mul(dy, g);
      const dx = tf.mul(tf.sub(tf.sub(scaled, tf.mean(scaled, -1, true)), tf.mul(n, tf.mean(tf.mul(scaled, n), -1, true))), inverse);
      return [dx, tf.sum(tf.mul(dy, n), 0), tf.sum(dy, 0)];
    },
  };
}) as (x: tf.Tensor2D, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor2D;

/** The parts of tfjs-node's backend used to run a TensorFlow op tfjs has no kernel for. */
interface NativeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: { name: string; type: number; value: number }[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: { name: string; type: number; value: number }[], inputs: tf.Tensor[], outputs: number): tf.Tensor[];
}

function nativeBackend(): NativeBackend | undefined {
  return tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as NativeBackend) : undefined;
}

/**
 * Uniform [0, 1) noise, a pure function of (shape, seed). tf.randomUniform generates every
 * number in JavaScript (7.8 ms for one [128, 50, 64] SASRec activation here, against 1.9 ms
 * for TensorFlow's stateless Philox kernel on the native backend).
 */
function uniformNoise(shape: number[], seed: number): tf.Tensor {
  const backend = nativeBackend();
  if (!backend) return tf.randomUniform(shape, 0, 1, 'float32', seed);
  const { TF_ATTR_TYPE, TF_FLOAT, TF_INT32 } = backend.binding;
  return tf.tidy(() =>
    backend.executeSingleOutput(
      'StatelessRandomUniform',
      [
        { name: 'dtype', type: TF_ATTR_TYPE, value: TF_FLOAT },
        { name: 'T', type: TF_ATTR_TYPE, value: TF_INT32 },
        { name: 'Tseed', type: TF_ATTR_TYPE, value: TF_INT32 },
      ],
      [tf.tensor1d(shape, 'int32'), tf.tensor1d([seed | 0, 0x5eed], 'int32')],
    ),
  );
}

/** Inverted dropout: zeroes each element with probability `rate`, scales the rest by 1/(1-rate). */
export function dropout<T extends tf.Tensor>(x: T, rate: number, seed: number): T {
  const keep = 1 - rate;
  return tf.mul(x, tf.floor(tf.add(uniformNoise(x.shape, seed), keep)).mul(1 / keep)) as T;
}

/**
 * Softmax cross-entropy of each row of `logits` [rows, classes] against its class in
 * `labels` [rows]. Over a full catalogue the logits are the largest tensor of a step: the
 * native backend runs TensorFlow's fused kernel, which computes the loss and its gradient
 * (softmax - one-hot) in one pass, instead of the ~15 passes that tfjs ops record.
 */
export const sparseSoftmaxCrossEntropy = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [logits, labels] = args as [tf.Tensor2D, tf.Tensor1D];
  const save = args[2] as tf.GradSaveFunc;
  const { loss, softmaxMinusOneHot } = crossEntropyAndGradient(logits, labels);
  save([softmaxMinusOneHot]);
  return { value: loss, gradFunc: (dy: tf.Tensor, [g]: tf.Tensor[]) => [tf.mul(g, tf.expandDims(dy, 1)), noGradient(labels.shape)] };
}) as (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor1D;

/** Labels get no gradient; tfjs still wants a tensor of their shape. */
function noGradient(shape: number[]): tf.Tensor {
  return tf.zeros(shape, 'int32');
}

/** Per-row loss and its gradient with respect to the logits, softmax - one-hot. */
function crossEntropyAndGradient(logits: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Tensor1D; softmaxMinusOneHot: tf.Tensor2D } {
  const backend = nativeBackend();
  if (backend) {
    const { TF_ATTR_TYPE, TF_FLOAT, TF_INT32 } = backend.binding;
    const [loss, softmaxMinusOneHot] = backend.executeMultipleOutputs(
      'SparseSoftmaxCrossEntropyWithLogits',
      [
        { name: 'T', type: TF_ATTR_TYPE, value: TF_FLOAT },
        { name: 'Tlabels', type: TF_ATTR_TYPE, value: TF_INT32 },
      ],
      [logits, labels],
      2,
    );
    return { loss: loss as tf.Tensor1D, softmaxMinusOneHot: softmaxMinusOneHot as tf.Tensor2D };
  }
  return tf.tidy(() => {
    const oneHot = tf.oneHot(labels, logits.shape[1]);
    return {
      loss: tf.sub(tf.logSumExp(logits, -1), tf.sum(tf.mul(logits, oneHot), -1)) as tf.Tensor1D,
      softmaxMinusOneHot: tf.sub(tf.softmax(logits), oneHot) as tf.Tensor2D,
    };
  });
}

/**
 * Softmax cross-entropy of `hidden` [rows, d] against every row of `table` [classes, d]
 * (an output layer tied to an embedding table), per row of `labels`. One custom gradient
 * for the product and the loss: with G = softmax - one-hot, d hidden = dy * (G table) and
 * d table = G^T (dy * hidden), so the upstream gradient scales the small [rows, d]
 * factors instead of a pass over the [rows, classes] matrix.
 */
export const tiedOutputCrossEntropy = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [hidden, table, labels] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
  const save = args[3] as tf.GradSaveFunc;
  const logits = tf.matMul(hidden, table, false, true) as tf.Tensor2D;
  const { loss, softmaxMinusOneHot } = crossEntropyAndGradient(logits, labels);
  save([softmaxMinusOneHot, hidden, table]);
  return {
    value: loss,
    gradFunc: (dy: tf.Tensor, [g, savedHidden, savedTable]: tf.Tensor[]) => {
      const scale = tf.expandDims(dy, 1);
      return [tf.mul(tf.matMul(g, savedTable), scale), tf.matMul(g, tf.mul(savedHidden, scale), true, false), noGradient(labels.shape)];
    },
  };
}) as (hidden: tf.Tensor2D, table: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor1D;
