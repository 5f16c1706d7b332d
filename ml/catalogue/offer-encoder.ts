/**
 * The offer encoder for product matching: an offer title's tf-idf feature bag
 * (ml/text/tokenizer.ts) through an embedding bag (the same sparse layer as the intent
 * network's) to a unit vector, so that offers of one product lie close together. Trained as
 * a normalised softmax over the known products (NormFace, Wang et al., 2017): the logits are
 * `scale` times the cosine between the offer and a learned unit prototype per product.
 * Early-stopped on what serving does with it: validation offers of training products
 * matched to the nearest product centroid of the training offers (product-index.ts).
 *
 * The prototypes only train the encoder: a served catalogue is searched by its offers'
 * centroids, so a product listed after training joins the index without retraining, and
 * the saved model holds the embedding bag alone.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { FlatAdam } from '../adam';
import { denseVariables, initialDenseVariables, tiedOutputCrossEntropy, type DenseShape } from '../layers';
import { seededRng, shuffled, statefulRng } from '../random';
import { splitCheckpointTensors } from '../training-hooks';
import { freshLoopState, loopOutcome, runEpochs, type LoopState } from '../training-loop';
import { disposeBatch, embeddingBag, sparseBatch } from '../text/intent-model';
import { ProductIndex } from './product-index';
import type { Checkpoint as GenericCheckpoint, NamedTensor, TrainingHooks, TrainingOutcome } from '../training-hooks';
import type { EncodedText } from '../text/tokenizer';

export const EncoderHyperparameters = z
  .object({
    dimension: z.number().int().min(8).max(1024).default(128),
    /** Cosine logits are multiplied by it: a softmax over thousands of products needs a scale well above 1 to be confident. */
    scale: z.number().min(1).max(100).default(20),
    learningRate: z.number().positive().max(1).default(0.005),
    batchSize: z.number().int().min(4).max(4096).default(128),
    epochs: z.number().int().min(1).max(500).default(30),
    patience: z.number().int().min(1).max(100).default(3),
    seed: z.number().int().min(0).default(42),
  })
  .strict();
export type EncoderHyperparameters = z.output<typeof EncoderHyperparameters>;

export interface OfferEncoderConfig {
  kind: 'offer-encoder';
  features: number;
  dimension: number;
}

/** Rows per forward pass when embedding many texts. */
const CHUNK_ROWS = 4096;

const bagShape = (config: OfferEncoderConfig): DenseShape => ({ name: 'bag', inputs: config.features, outputs: config.dimension });

export class OfferEncoder {
  private constructor(
    readonly config: OfferEncoderConfig,
    readonly variables: Map<string, tf.Variable>,
  ) {}

  /** Uniform in ±sqrt(3 / dimension): a text's bag of L2-normalised weights starts with entries of variance ~1/dimension. */
  static initialise(config: OfferEncoderConfig, seed: number): OfferEncoder {
    return new OfferEncoder(config, initialDenseVariables([bagShape(config)], seed, () => Math.sqrt(3 / config.dimension)));
  }

  /** An encoder on the given weights (`bag/kernel`, `bag/bias`), which stay the caller's to dispose. */
  static fromWeights(config: OfferEncoderConfig, tensors: Record<string, tf.Tensor>): OfferEncoder {
    return new OfferEncoder(config, denseVariables([bagShape(config)], tensors, 'this offer encoder'));
  }

  namedWeights(): NamedTensor[] {
    return [...this.variables].map(([name, tensor]) => ({ name, tensor }));
  }

  /** Unit embeddings [texts, dimension]. */
  embedBatch(batch: ReturnType<typeof sparseBatch>): tf.Tensor2D {
    return tf.tidy(() => unit(embeddingBag(this.variables.get('bag/kernel')!, this.variables.get('bag/bias')!, batch)));
  }

  /** Unit embeddings of many texts, row-major [texts, dimension]. */
  embed(texts: readonly EncodedText[]): Float32Array {
    const out = new Float32Array(texts.length * this.config.dimension);
    for (let start = 0; start < texts.length; start += CHUNK_ROWS) {
      const batch = sparseBatch(texts.slice(start, start + CHUNK_ROWS));
      const embedded = this.embedBatch(batch);
      out.set(embedded.dataSync(), start * this.config.dimension);
      embedded.dispose();
      disposeBatch(batch);
    }
    return out;
  }

  dispose(): void {
    for (const variable of this.variables.values()) variable.dispose();
    this.variables.clear();
  }
}

/** Rows scaled to unit length (a zero row stays zero). */
function unit(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12)));
}

export interface EncoderTrainingState extends LoopState {
  /** Identifies the data and hyperparameters; a checkpoint of another run is refused. */
  run: string;
}
export type EncoderCheckpoint = GenericCheckpoint<EncoderTrainingState>;

export interface OffersOfProducts {
  texts: EncodedText[];
  /** The product of each text, an index into the training products. */
  products: Int32Array;
}

export interface EncoderTrainOptions extends TrainingHooks<EncoderTrainingState> {
  hyperparameters: EncoderHyperparameters;
  features: number;
  /** How many training products there are (the softmax's classes). */
  productCount: number;
  train: OffersOfProducts;
  /** Offers of training products: early stopping matches them against the training offers' centroids. */
  validation: OffersOfProducts;
}

export interface EncoderTrainResult extends TrainingOutcome {
  encoder: OfferEncoder;
  steps: number;
}

/** The share of `queries` whose nearest centroid of `index` is their own product. */
export function retrievalAccuracy(index: ProductIndex, queries: Float32Array, products: Int32Array): number {
  const { nearest } = index.searchBatch(queries);
  let right = 0;
  for (let i = 0; i < products.length; i++) if (nearest[i] === products[i]) right++;
  return products.length > 0 ? right / products.length : 0;
}

export async function trainOfferEncoder(options: EncoderTrainOptions): Promise<EncoderTrainResult> {
  const { hyperparameters: hp, train, validation, resumeFrom, productCount } = options;
  if (productCount < 2) throw new Error(`matching needs at least two known products, got ${productCount}`);
  if (train.products.length === 0 || validation.products.length === 0) throw new Error('matching needs training and validation offers of known products');
  const run = JSON.stringify({ hp, features: options.features, productCount, train: train.products.length, validation: validation.products.length });
  if (resumeFrom && resumeFrom.state.run !== run) throw new Error('the checkpoint is from a run with other data or hyperparameters');
  const config: OfferEncoderConfig = { kind: 'offer-encoder', features: options.features, dimension: hp.dimension };
  const restored = resumeFrom && splitCheckpointTensors(resumeFrom.tensors);
  const { prototypes: restoredPrototypes, ...restoredBag } = restored?.model ?? {};
  const encoder = restored ? OfferEncoder.fromWeights(config, restoredBag) : OfferEncoder.initialise(config, hp.seed);
  // The prototypes train with the encoder (and are checkpointed with it) but are not part of the saved model.
  const prototypes = restoredPrototypes ? tf.variable(restoredPrototypes, true) : tf.tidy(() => tf.variable(tf.randomNormal([productCount, hp.dimension], 0, 1, 'float32', hp.seed + 1000), true));
  const variables = new Map([...encoder.variables, ['prototypes', prototypes]]);
  const optimizer = new FlatAdam([...variables.values()], { learningRate: hp.learningRate });
  const rng = statefulRng(`encoder-${hp.seed}`, resumeFrom?.state.rng);
  const state: EncoderTrainingState = resumeFrom ? structuredClone(resumeFrom.state) : { ...freshLoopState(rng), run };
  const rows = Array.from({ length: train.products.length }, (_, i) => i);
  const rowOrder = (epoch: number) => shuffled(rows, seededRng(`encoder-${hp.seed}-epoch-${epoch}`));
  let order = rowOrder(state.epoch);
  const started = Date.now();
  try {
    if (restored) optimizer.setWeights(restored.optimizer);
    await runEpochs({
      ...options,
      state,
      restoredBest: restored?.best,
      epochs: hp.epochs,
      patience: hp.patience,
      variables,
      optimizer,
      rng,
      batchesPerEpoch: Math.ceil(rows.length / hp.batchSize),
      step(position) {
        const picked = order.slice(position * hp.batchSize, (position + 1) * hp.batchSize);
        const batch = sparseBatch(picked.map((i) => train.texts[i]));
        const loss = tf.tidy(() => {
          const labels = tf.tensor1d(Int32Array.from(picked, (i) => train.products[i]), 'int32');
          return optimizer.minimize(() => tf.mean(tiedOutputCrossEntropy(tf.mul(encoder.embedBatch(batch), hp.scale), unit(prototypes as tf.Tensor2D), labels)));
        });
        disposeBatch(batch);
        return { loss, samples: picked.length };
      },
      validate: async () => {
        const index = ProductIndex.fromOffers(encoder.embed(train.texts), train.products, productCount, hp.dimension);
        return retrievalAccuracy(index, encoder.embed(validation.texts), validation.products);
      },
      nextEpoch: (next) => (order = rowOrder(next.epoch)),
    });
  } catch (error) {
    encoder.dispose();
    throw error;
  } finally {
    optimizer.dispose();
    prototypes.dispose();
  }
  return { encoder, ...loopOutcome(state, started) };
}
