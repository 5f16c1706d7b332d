/**
 * Photo -> product class, at two granularities at once (e.g. Grocery Store's 81 fine and 42
 * coarse classes): image features, then one softmax layer per granularity, trained together
 * on the sum of both cross-entropies, early-stopped on validation fine accuracy and
 * temperature-scaled per output on the validation split.
 *
 * Two feature extractors:
 * - 'efficientnet-lite0': the ImageNet-pretrained backbone (./efficientnet-lite.ts), frozen.
 *   Its features are computed once for the plain image and for `augmentedViews - 1`
 *   augmented copies of every training image; each step draws one view per image. Only the
 *   head is trained, so an epoch takes a fraction of a second.
 * - 'small-cnn': a from-scratch CNN (3x3 conv + ReLU + 2x2 max-pool per stage, global
 *   average pooling), trained end to end on images augmented afresh at every step. The
 *   fallback where the backbone is not installed, and the from-scratch number of the bench.
 *   Far slower: 25-60 s an epoch on Grocery Store's 2,640 photos at 64x64 on 2 busy cores,
 *   where the frozen backbone's features take ~6 min once and the head seconds an epoch.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { FlatAdam } from '../adam';
import { dense, denseVariables, dropout, initialDenseVariables, sparseSoftmaxCrossEntropy, type DenseShape } from '../layers';
import { seededRng, shuffled, statefulRng } from '../random';
import { argmaxRows, fitTemperature, softmaxRows } from '../text/intent-model';
import { splitCheckpointTensors } from '../training-hooks';
import { freshLoopState, loopOutcome, runEpochs, type LoopState } from '../training-loop';
import { augmentBatch } from './augment';
import { decodeImage, DEFAULT_IMAGE_LIMITS, type ImageLimits } from './decode';
import { BACKBONE_ARCHITECTURE, BACKBONE_FEATURES, BACKBONE_INPUT_SIZE, backboneInstalled, sharedBackbone, type EfficientNetLite0 } from './efficientnet-lite';
import type { Checkpoint as GenericCheckpoint, NamedTensor, TrainingHooks, TrainingOutcome } from '../training-hooks';

export type FeatureExtractor = typeof BACKBONE_ARCHITECTURE | 'small-cnn';

/** The pretrained backbone where `npm run vision:install` put it, else the from-scratch CNN. */
export function availableExtractor(): FeatureExtractor {
  return backboneInstalled() ? BACKBONE_ARCHITECTURE : 'small-cnn';
}

/**
 * Defaults chosen on the official validation split of Grocery Store (296 photos, never its
 * test split), frozen EfficientNet-Lite0 at 224: validation fine top-1 70.6% with dropout 0.3
 * and no weight decay, 74.3% with dropout 0.5 and weight decay 3e-4 (patience 12); 4 views
 * against 1 (no augmentation): 70.6% against 67.2%. Standardised, square-rooted or
 * L2-normalised features did not help (69.6-73.6%). Meant for any shop's photos: nothing
 * here names a class count or an image count.
 */
export const ImageHyperparameters = z
  .object({
    extractor: z.enum([BACKBONE_ARCHITECTURE, 'small-cnn']).default(BACKBONE_ARCHITECTURE),
    learningRate: z.number().positive().max(1).default(0.001),
    batchSize: z.number().int().min(4).max(1024).default(64),
    epochs: z.number().int().min(1).max(500).default(100),
    /** Stop after this many epochs without a better validation fine accuracy. */
    patience: z.number().int().min(1).max(100).default(12),
    /** On the features, before the softmax layers. */
    dropout: z.number().min(0).max(0.9).default(0.5),
    /** L2 penalty on the softmax layers' kernels, added to the loss. */
    weightDecay: z.number().min(0).max(1).default(0.0003),
    /** Frozen backbone: the plain image plus this many minus one augmented copies of each training image. */
    augmentedViews: z.number().int().min(1).max(16).default(4),
    /** Small CNN: channels of each stage, and the square input side. */
    cnnChannels: z.array(z.number().int().min(1).max(512)).min(1).max(6).default(() => [32, 64, 128, 256]),
    cnnInputSize: z.number().int().min(16).max(256).default(64),
    seed: z.number().int().min(0).default(42),
  })
  .strict();
export type ImageHyperparameters = z.output<typeof ImageHyperparameters>;

export interface ImageClassifierConfig {
  kind: 'image-classifier';
  extractor: FeatureExtractor;
  /** Side of the square RGB input the extractor takes. */
  inputSize: number;
  featureSize: number;
  /** Small CNN stages; empty for the backbone. */
  cnnChannels: number[];
  /** sha256 of the backbone weights the head was trained on; null for the small CNN. */
  backboneSha256: string | null;
  fineClasses: string[];
  coarseClasses: string[];
  /** Logits are divided by these before the softmax (temperature scaling); 1 before calibration. */
  temperature: { fine: number; coarse: number };
}

export interface ClassProbability {
  label: string;
  probability: number;
}

export interface ImagePrediction {
  /** The five most probable classes of each granularity, most probable first. */
  fine: ClassProbability[];
  coarse: ClassProbability[];
}

/** Images as decodeImage returns them: RGB pixels, `size` x `size` x 3 each, with their class indices. */
export interface LabelledImages {
  images: Uint8Array[];
  size: number;
  fine: Int32Array;
  coarse: Int32Array;
}

/** Images per forward pass when scoring many. */
const SCORING_CHUNK = 32;
export const TOP_CLASSES = 5;

function headShapes(config: ImageClassifierConfig): DenseShape[] {
  return [
    { name: 'fine', inputs: config.featureSize, outputs: config.fineClasses.length },
    { name: 'coarse', inputs: config.featureSize, outputs: config.coarseClasses.length },
  ];
}

function convNames(config: ImageClassifierConfig): { name: string; shape: number[] }[] {
  return config.cnnChannels.flatMap((out, i) => {
    const inputs = i === 0 ? 3 : config.cnnChannels[i - 1];
    return [
      { name: `conv${i}/kernel`, shape: [3, 3, inputs, out] },
      { name: `conv${i}/bias`, shape: [out] },
    ];
  });
}

/** Row-major [images, inputSize, inputSize, 3] float32 pixels. */
export function pixelBatch(images: readonly Uint8Array[], size: number): tf.Tensor4D {
  const data = new Float32Array(images.length * size * size * 3);
  images.forEach((image, i) => data.set(image, i * size * size * 3));
  return tf.tensor4d(data, [images.length, size, size, 3]);
}

/** The `count` largest entries of one row of probabilities, largest first. */
export function topClasses(probabilities: Float32Array, labels: readonly string[], count = TOP_CLASSES): ClassProbability[] {
  return Array.from(probabilities, (probability, index) => ({ label: labels[index], probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, count);
}

export class ImageClassifier {
  private constructor(
    readonly config: ImageClassifierConfig,
    /** Trained weights: the head, and the small CNN's convolutions. */
    readonly variables: Map<string, tf.Variable>,
    private readonly backbone: EfficientNetLite0 | undefined,
  ) {
    if (config.extractor === BACKBONE_ARCHITECTURE) {
      if (!backbone) throw new Error(`this image classifier runs on the ${BACKBONE_ARCHITECTURE} backbone; load it and pass it`);
      if (backbone.sha256 !== config.backboneSha256) throw new Error(`the head was trained on backbone weights ${config.backboneSha256}, the loaded ones are ${backbone.sha256}`);
    }
  }

  static configFor(hp: ImageHyperparameters, fineClasses: string[], coarseClasses: string[], backbone?: EfficientNetLite0): ImageClassifierConfig {
    const onBackbone = hp.extractor === BACKBONE_ARCHITECTURE;
    if (onBackbone && !backbone) throw new Error(`extractor ${BACKBONE_ARCHITECTURE} needs the loaded backbone`);
    return {
      kind: 'image-classifier',
      extractor: hp.extractor,
      inputSize: onBackbone ? BACKBONE_INPUT_SIZE : hp.cnnInputSize,
      featureSize: onBackbone ? BACKBONE_FEATURES : hp.cnnChannels[hp.cnnChannels.length - 1],
      cnnChannels: onBackbone ? [] : [...hp.cnnChannels],
      backboneSha256: onBackbone ? backbone!.sha256 : null,
      fineClasses: [...fineClasses],
      coarseClasses: [...coarseClasses],
      temperature: { fine: 1, coarse: 1 },
    };
  }

  /** He-uniform convolutions, Glorot-uniform softmax layers, zero biases. */
  static initialise(config: ImageClassifierConfig, seed: number, backbone?: EfficientNetLite0): ImageClassifier {
    const variables = initialDenseVariables(headShapes(config), seed, ({ inputs, outputs }) => Math.sqrt(6 / (inputs + outputs)));
    convNames(config).forEach(({ name, shape }, i) => {
      const limit = Math.sqrt(6 / (shape[0] * shape[1] * shape[2]));
      variables.set(name, tf.tidy(() => tf.variable(shape.length === 1 ? tf.zeros(shape) : tf.randomUniform(shape, -limit, limit, 'float32', seed + 100 + i))));
    });
    return new ImageClassifier(config, variables, backbone);
  }

  /** A classifier on the given weights (which stay the caller's to dispose); the backbone's weights are not among them. */
  static fromWeights(config: ImageClassifierConfig, tensors: Record<string, tf.Tensor>, backbone?: EfficientNetLite0): ImageClassifier {
    const convs = convNames(config);
    const headTensors = Object.fromEntries(Object.entries(tensors).filter(([name]) => !convs.some((c) => c.name === name)));
    const variables = denseVariables(headShapes(config), headTensors, 'this image classifier');
    for (const { name, shape } of convs) {
      const tensor = tensors[name];
      if (!tensor) throw new Error(`weights have no tensor "${name}"`);
      if (!tf.util.arraysEqual(tensor.shape, shape)) throw new Error(`weight ${name} has shape [${tensor.shape}], expected [${shape}]`);
      variables.set(name, tf.variable(tensor, true));
    }
    return new ImageClassifier(config, variables, backbone);
  }

  /** A stored classifier, with the process's shared backbone when it was trained on one. */
  static load(config: ImageClassifierConfig, tensors: Record<string, tf.Tensor>): ImageClassifier {
    return ImageClassifier.fromWeights(config, tensors, config.extractor === BACKBONE_ARCHITECTURE ? sharedBackbone() : undefined);
  }

  namedWeights(): NamedTensor[] {
    return [...this.variables].map(([name, tensor]) => ({ name, tensor }));
  }

  private weight(name: string): tf.Variable {
    const variable = this.variables.get(name);
    if (!variable) throw new Error(`no weight ${name}`);
    return variable;
  }

  /** Features [n, featureSize] of images [n, inputSize, inputSize, 3] with values 0..255. */
  features(images: tf.Tensor4D): tf.Tensor2D {
    if (this.backbone) return this.backbone.features(images);
    return tf.tidy(() => {
      let x: tf.Tensor4D = tf.div(images, 255);
      this.config.cnnChannels.forEach((_, i) => {
        x = tf.fused.conv2d({ x, filter: this.weight(`conv${i}/kernel`) as tf.Tensor4D, strides: 1, pad: 'same', bias: this.weight(`conv${i}/bias`), activation: 'relu' });
        x = tf.maxPool(x, 2, 2, 'same');
      });
      return tf.mean(x, [1, 2]) as tf.Tensor2D;
    });
  }

  /** Uncalibrated logits of both outputs; dropout on the features only when `dropoutRate` > 0 (training). */
  logits(features: tf.Tensor2D, dropoutRate = 0, dropoutSeed = 0): { fine: tf.Tensor2D; coarse: tf.Tensor2D } {
    return tf.tidy(() => {
      const x = dropoutRate > 0 ? dropout(features, dropoutRate, dropoutSeed) : features;
      return {
        fine: dense(x, this.weight('fine/kernel'), this.weight('fine/bias')),
        coarse: dense(x, this.weight('coarse/kernel'), this.weight('coarse/bias')),
      };
    });
  }

  /** Temperature-scaled logits of many decoded images (at inputSize), row-major [images, classes] per output. */
  scaledLogits(images: readonly Uint8Array[]): { fine: Float32Array; coarse: Float32Array } {
    const { fineClasses, coarseClasses, temperature, inputSize } = this.config;
    const fine = new Float32Array(images.length * fineClasses.length);
    const coarse = new Float32Array(images.length * coarseClasses.length);
    for (let start = 0; start < images.length; start += SCORING_CHUNK) {
      const [f, c] = tf.tidy(() => {
        const features = this.features(pixelBatch(images.slice(start, start + SCORING_CHUNK), inputSize));
        const logits = this.logits(features);
        return [tf.div(logits.fine, temperature.fine), tf.div(logits.coarse, temperature.coarse)];
      });
      fine.set(f.dataSync(), start * fineClasses.length);
      coarse.set(c.dataSync(), start * coarseClasses.length);
      tf.dispose([f, c]);
    }
    return { fine, coarse };
  }

  /** Calibrated probabilities of many decoded images, row-major [images, classes] per output. */
  probabilities(images: readonly Uint8Array[]): { fine: Float32Array; coarse: Float32Array } {
    const logits = this.scaledLogits(images);
    return { fine: softmaxRows(logits.fine, this.config.fineClasses.length), coarse: softmaxRows(logits.coarse, this.config.coarseClasses.length) };
  }

  /** One image's bytes (JPEG or PNG) to its top classes; throws ImageRejectedError for an unusable image. */
  async predict(bytes: Uint8Array, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<ImagePrediction> {
    const { pixels } = await decodeImage(bytes, this.config.inputSize, limits);
    const { fine, coarse } = this.probabilities([pixels]);
    return { fine: topClasses(fine, this.config.fineClasses), coarse: topClasses(coarse, this.config.coarseClasses) };
  }

  /** Disposes the trained weights; the backbone stays its owner's. */
  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }
}

export interface ImageTrainingState extends LoopState {
  /** Identifies the data and hyperparameters; a checkpoint of another run is refused. */
  run: string;
}
export type ImageCheckpoint = GenericCheckpoint<ImageTrainingState>;

export interface ImageTrainOptions extends TrainingHooks<ImageTrainingState> {
  hyperparameters: ImageHyperparameters;
  fineClasses: string[];
  coarseClasses: string[];
  /** Decoded at the extractor's input size (ImageClassifier.configFor(...).inputSize). */
  train: LabelledImages;
  /** Drives early stopping and fits the temperatures. */
  validation: LabelledImages;
  /** Required for the 'efficientnet-lite0' extractor; stays the caller's. */
  backbone?: EfficientNetLite0;
  /** Called as the frozen backbone's feature views are computed (they take most of the time). */
  onFeatures?: (done: number, total: number) => void;
  /**
   * The frozen backbone's features, if already computed (computeFeatureViews; e.g. kept as a
   * content-addressed artifact): training views [views, train images, features] and
   * validation [validation images, features]. They stay the caller's.
   */
  features?: { train: tf.Tensor3D; validation: tf.Tensor2D };
}

export interface ImageTrainResult extends TrainingOutcome {
  classifier: ImageClassifier;
  steps: number;
  /** Seconds spent computing the frozen backbone's features (part of trainSeconds). */
  featureSeconds: number;
}

function accuracyOf(scores: Float32Array, labels: Int32Array, classes: number): number {
  const predicted = argmaxRows(scores, classes);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) correct++;
  return labels.length > 0 ? correct / labels.length : 0;
}

/** Share of rows whose label is among the row's `k` highest scores. */
export function topKAccuracy(scores: Float32Array, labels: Int32Array, classes: number, k = TOP_CLASSES): number {
  let hits = 0;
  for (let r = 0; r < labels.length; r++) {
    const own = scores[r * classes + labels[r]];
    let higher = 0;
    for (let c = 0; c < classes; c++) if (scores[r * classes + c] > own) higher++;
    if (higher < k) hits++;
  }
  return labels.length > 0 ? hits / labels.length : 0;
}

/**
 * Frozen-backbone features [views, images, features]: view 0 of the plain images, the
 * others of augmented copies, a pure function of the seed. With views = 1, the features
 * of validation or test images.
 */
export function computeFeatureViews(backbone: EfficientNetLite0, data: LabelledImages, views: number, seed: number, onFeatures?: (done: number, total: number) => void): tf.Tensor3D {
  if (data.size !== backbone.inputSize) throw new Error(`images are ${data.size}x${data.size}; the backbone takes ${backbone.inputSize}x${backbone.inputSize}`);
  const rng = seededRng(`image-${seed}-views`);
  const total = views * data.images.length;
  const chunks: tf.Tensor2D[][] = Array.from({ length: views }, () => []);
  let done = 0;
  for (let start = 0; start < data.images.length; start += SCORING_CHUNK) {
    const images = pixelBatch(data.images.slice(start, start + SCORING_CHUNK), data.size);
    for (let view = 0; view < views; view++) {
      chunks[view].push(tf.tidy(() => backbone.features(view === 0 ? images : augmentBatch(images, backbone.inputSize, rng))));
      done += images.shape[0];
      onFeatures?.(done, total);
    }
    images.dispose();
  }
  const stacked = tf.tidy(() => tf.stack(chunks.map((c) => tf.concat(c))) as tf.Tensor3D);
  tf.dispose(chunks.flat());
  return stacked;
}

/** Through the shared epoch loop (ml/training-loop.ts): checkpoints, resume, early stopping on validation fine accuracy. */
export async function trainImageClassifier(options: ImageTrainOptions): Promise<ImageTrainResult> {
  const { hyperparameters: hp, train, validation, resumeFrom, backbone } = options;
  const config = ImageClassifier.configFor(hp, options.fineClasses, options.coarseClasses, backbone);
  const fineCount = config.fineClasses.length;
  if (fineCount < 2) throw new Error(`image training needs at least two fine classes, got ${fineCount}`);
  if (train.fine.length === 0 || validation.fine.length === 0) throw new Error('image training needs training and validation images');
  for (const [split, data] of [['training', train], ['validation', validation]] as const) {
    if (data.size !== config.inputSize) throw new Error(`${split} images are ${data.size}x${data.size}; the ${config.extractor} extractor takes ${config.inputSize}x${config.inputSize}`);
  }
  const run = JSON.stringify({ hp, fine: config.fineClasses, coarse: config.coarseClasses, train: train.fine.length, validation: validation.fine.length, backbone: config.backboneSha256 });
  if (resumeFrom && resumeFrom.state.run !== run) throw new Error('the checkpoint is from a run with other data or hyperparameters');
  const started = Date.now();
  const restored = resumeFrom && splitCheckpointTensors(resumeFrom.tensors);
  const classifier = restored ? ImageClassifier.fromWeights(config, restored.model, backbone) : ImageClassifier.initialise(config, hp.seed, backbone);
  const optimizer = new FlatAdam([...classifier.variables.values()], { learningRate: hp.learningRate });
  const rng = statefulRng(`image-${hp.seed}`, resumeFrom?.state.rng);
  const state: ImageTrainingState = resumeFrom ? structuredClone(resumeFrom.state) : { ...freshLoopState(rng), run };
  const frozen = config.extractor === BACKBONE_ARCHITECTURE;
  // The views are a pure function of the seed, so a resumed run recomputes the same ones.
  const given = options.features;
  if (given && (given.train.shape[0] !== hp.augmentedViews || given.train.shape[1] !== train.fine.length || given.validation.shape[0] !== validation.fine.length)) {
    throw new Error(`precomputed features [${given.train.shape}] / [${given.validation.shape}] do not match ${hp.augmentedViews} views of ${train.fine.length} training and ${validation.fine.length} validation images`);
  }
  let computed: { train: tf.Tensor3D; validation: tf.Tensor2D } | undefined;
  let views: tf.Tensor3D | undefined;
  let validationFeatures: tf.Tensor2D | undefined;
  let featureSeconds = 0;
  const rows = Array.from({ length: train.fine.length }, (_, i) => i);
  const rowOrder = (epoch: number) => shuffled(rows, seededRng(`image-${hp.seed}-epoch-${epoch}`));
  let order = rowOrder(state.epoch);

  const validationAccuracy = async () => {
    const features = validationFeatures;
    if (!features) return accuracyOf(classifier.scaledLogits(validation.images).fine, validation.fine, fineCount);
    const logits = tf.tidy(() => classifier.logits(features).fine);
    const scores = (await logits.data()) as Float32Array;
    logits.dispose();
    return accuracyOf(scores, validation.fine, fineCount);
  };

  try {
    if (frozen) {
      computed = given ? undefined : { train: computeFeatureViews(backbone!, train, hp.augmentedViews, hp.seed, options.onFeatures), validation: tf.tidy(() => tf.squeeze(computeFeatureViews(backbone!, validation, 1, hp.seed), [0]) as tf.Tensor2D) };
      ({ train: views, validation: validationFeatures } = (given ?? computed)!);
      featureSeconds = (Date.now() - started) / 1000;
    }
    if (restored) optimizer.setWeights(restored.optimizer);
    await runEpochs({
      ...options,
      state,
      restoredBest: restored?.best,
      epochs: hp.epochs,
      patience: hp.patience,
      variables: classifier.variables,
      optimizer,
      rng,
      batchesPerEpoch: Math.ceil(rows.length / hp.batchSize),
      step(position) {
        const picked = order.slice(position * hp.batchSize, (position + 1) * hp.batchSize);
        const dropoutSeed = Math.floor(rng() * 2 ** 31);
        const viewOf = frozen ? picked.map(() => Math.floor(rng() * hp.augmentedViews)) : [];
        const augmented = frozen ? undefined : augmentBatch(pixelBatch(picked.map((i) => train.images[i]), train.size), config.inputSize, rng);
        const loss = tf.tidy(() => {
          const fine = tf.tensor1d(Int32Array.from(picked, (i) => train.fine[i]), 'int32');
          const coarse = tf.tensor1d(Int32Array.from(picked, (i) => train.coarse[i]), 'int32');
          const frozenFeatures = views && tf.gatherND(views, tf.tensor2d(picked.flatMap((row, j) => [viewOf[j], row]), [picked.length, 2], 'int32'));
          return optimizer.minimize(() => {
            const logits = classifier.logits((frozenFeatures as tf.Tensor2D | undefined) ?? classifier.features(augmented!), hp.dropout, dropoutSeed);
            const crossEntropy: tf.Scalar = tf.add(tf.mean(sparseSoftmaxCrossEntropy(logits.fine, fine)), tf.mean(sparseSoftmaxCrossEntropy(logits.coarse, coarse)));
            if (hp.weightDecay === 0) return crossEntropy;
            const kernels = ['fine/kernel', 'coarse/kernel'].map((name) => tf.sum(tf.square(classifier.variables.get(name)!)));
            return tf.add(crossEntropy, tf.mul(hp.weightDecay, tf.addN(kernels))) as tf.Scalar;
          });
        });
        augmented?.dispose();
        return { loss, samples: picked.length };
      },
      validate: validationAccuracy,
      nextEpoch: (next) => (order = rowOrder(next.epoch)),
    });
    // runEpochs left the best epoch's weights: calibrate each output on the validation split.
    const logits = frozen ? tf.tidy(() => classifier.logits(validationFeatures!)) : undefined;
    const raw = logits ? { fine: logits.fine.dataSync() as Float32Array, coarse: logits.coarse.dataSync() as Float32Array } : classifier.scaledLogits(validation.images);
    if (logits) tf.dispose([logits.fine, logits.coarse]);
    const temperature = { fine: fitTemperature(raw.fine, validation.fine, fineCount), coarse: fitTemperature(raw.coarse, validation.coarse, config.coarseClasses.length) };
    const calibrated = ImageClassifier.fromWeights({ ...config, temperature }, Object.fromEntries(classifier.variables), backbone);
    classifier.dispose();
    return { classifier: calibrated, featureSeconds, ...loopOutcome(state, started) };
  } catch (error) {
    classifier.dispose();
    throw error;
  } finally {
    optimizer.dispose();
    if (computed) tf.dispose([computed.train, computed.validation]);
  }
}
