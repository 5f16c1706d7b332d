/**
 * The product-categorisation model: two networks on one tokenizer (ml/text/tokenizer.ts),
 *
 *   category  title -> category: the intent network (ml/text/intent-model.ts; an embedding
 *             bag over hashed word and character n-grams, a ReLU layer, a softmax), which is
 *             a text classifier whatever the classes are, temperature-scaled on validation;
 *   matching  title -> unit embedding (ml/catalogue/offer-encoder.ts), matched to the nearest
 *             known product's centroid, or flagged as a new product below a similarity
 *             threshold chosen on validation (ml/catalogue/matching-metrics.ts).
 *
 * Trained one after the other in one train step. Each stage's checkpoints carry their stage,
 * and their optimizer steps continue the previous stage's count, so a resumed run continues
 * the stage it was in (a run lost during matching retrains the category network from its
 * seed first: the same weights, deterministically).
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { IntentHyperparameters, IntentNetwork, trainIntentNetwork, type IntentNetworkConfig, type IntentTrainingState } from '../../../ml/text/intent-model';
import { EncoderHyperparameters, OfferEncoder, trainOfferEncoder, type EncoderTrainingState, type OfferEncoderConfig } from '../../../ml/catalogue/offer-encoder';
import { ProductIndex } from '../../../ml/catalogue/product-index';
import { chooseNewProductThreshold, type MatchResults, type MatchTruth } from '../../../ml/catalogue/matching-metrics';
import { Tokenizer, type EncodedText, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { rowsOf, type PreparedOffers } from './prepare';
import { SPLIT } from './protocol';
import type { Checkpoint, NamedTensor, TrainingHooks, TrainingOutcome } from '../../../ml/training-hooks';

/**
 * The category network's hyperparameters, and the matching encoder's (`match*`). Defaults:
 * the intent network's faster setting (batches of 128 at 5e-3, within noise of batches of 32
 * on BANKING77's validation cut; see IntentHyperparameters) with a bag of 128, half the
 * intent kind's, since offer vocabularies are five times larger; not tuned on PriceRunner.
 */
export const CatalogueHyperparameters = IntentHyperparameters.extend({
  hiddenLayers: z.array(z.number().int().min(1).max(4096)).max(4).default(() => [128]),
  learningRate: z.number().positive().max(1).default(0.005),
  batchSize: z.number().int().min(4).max(4096).default(128),
  epochs: z.number().int().min(1).max(500).default(30),
  patience: z.number().int().min(1).max(100).default(3),
  matchDimension: EncoderHyperparameters.shape.dimension,
  matchScale: EncoderHyperparameters.shape.scale,
  matchLearningRate: EncoderHyperparameters.shape.learningRate,
  matchBatchSize: EncoderHyperparameters.shape.batchSize,
});
export type CatalogueHyperparameters = z.output<typeof CatalogueHyperparameters>;

export interface CatalogueModelConfig {
  kind: 'product-categorisation';
  tokenizer: TokenizerSpec;
  maxTitleChars: number;
  category: IntentNetworkConfig;
  /** Null when the training data names too few products to learn matching. */
  matching: { encoder: OfferEncoderConfig; threshold: number } | null;
}

const CATEGORY_PREFIX = 'category/';
const ENCODER_PREFIX = 'encoder/';

/** The prepared data with its texts encoded once. */
export interface EncodedOffers extends PreparedOffers {
  encoded: EncodedText[];
}

export function encodeOffers(data: PreparedOffers, tokenizer: Tokenizer): EncodedOffers {
  return { ...data, encoded: tokenizer.encodeAll(data.titles) };
}

function categoryRows(data: EncodedOffers, split: number) {
  const rows = rowsOf(data, [split], 'category');
  return { texts: rows.map((i) => data.encoded[i]), labels: Int32Array.from(rows, (i) => data.categoryLabels[i]) };
}

/** The training split's products in index order, and each offer's product index among them (-1: not a training product, or none). */
export function trainingProducts(data: PreparedOffers): { ids: string[]; indexOf: Map<string, number> } {
  const ids = [...new Set(rowsOf(data, [SPLIT.train], 'product').map((i) => data.products[i]!))].sort();
  return { ids, indexOf: new Map(ids.map((id, i) => [id, i])) };
}

/** Offers of a split with a product, and their truth against the training products (-1: new). */
export function productRows(data: EncodedOffers, split: number, indexOf: Map<string, number>): { texts: EncodedText[]; truth: MatchTruth } {
  const rows = rowsOf(data, [split], 'product');
  return { texts: rows.map((i) => data.encoded[i]), truth: Int32Array.from(rows, (i) => indexOf.get(data.products[i]!) ?? -1) };
}

/** Matches offers against the index of the training offers' centroids. */
export function matchAgainstTraining(encoder: OfferEncoder, data: EncodedOffers, split: number): { results: MatchResults; truth: MatchTruth } | null {
  const { ids, indexOf } = trainingProducts(data);
  const train = productRows(data, SPLIT.train, indexOf);
  const queries = productRows(data, split, indexOf);
  if (ids.length === 0 || queries.texts.length === 0) return null;
  const index = ProductIndex.fromOffers(encoder.embed(train.texts), train.truth, ids.length, encoder.config.dimension);
  return { results: index.searchBatch(encoder.embed(queries.texts)), truth: queries.truth };
}

type Stage = 'category' | 'matching';
interface StagedState {
  stage: Stage;
  state: unknown;
}

/** The hooks of one stage: its checkpoints tagged with it and numbered after `stepOffset`, and a resume only from its own. */
function stageHooks<State>(hooks: TrainingHooks<unknown>, stage: Stage, stepOffset: number): TrainingHooks<State> {
  const resume = hooks.resumeFrom as Checkpoint<StagedState> | undefined;
  return {
    ...hooks,
    checkpoints: hooks.checkpoints && {
      ...hooks.checkpoints,
      save: (c, step) => hooks.checkpoints!.save({ state: { stage, state: c.state } satisfies StagedState, tensors: c.tensors }, stepOffset + step),
    },
    resumeFrom: resume?.state.stage === stage ? { state: resume.state.state as State, tensors: resume.tensors } : undefined,
  };
}

export interface TrainedCatalogueModel extends TrainingOutcome {
  config: CatalogueModelConfig;
  weights: NamedTensor[];
  /** How matching trained (its own epochs, validation top-1). */
  matchingOutcome: TrainingOutcome | null;
  dispose(): void;
}

export async function trainCatalogueModel(data: EncodedOffers, tokenizer: Tokenizer, maxTitleChars: number, hp: CatalogueHyperparameters, hooks: TrainingHooks<unknown>, log: (message: string, fields: Record<string, unknown>) => void): Promise<TrainedCatalogueModel> {
  const { matchDimension, matchScale, matchLearningRate, matchBatchSize, ...categoryHp } = hp;
  const train = categoryRows(data, SPLIT.train);
  const validation = categoryRows(data, SPLIT.validation);
  log('training the category network', { train: train.labels.length, validation: validation.labels.length, categories: data.categories.length, features: tokenizer.features });
  const category = await trainIntentNetwork({ ...stageHooks<IntentTrainingState>(hooks, 'category', 0), hyperparameters: categoryHp, features: tokenizer.features, intents: data.categories, train, validation });

  const { ids, indexOf } = trainingProducts(data);
  const products = productRows(data, SPLIT.train, indexOf);
  const validationProducts = productRows(data, SPLIT.validation, indexOf);
  const known = validationProducts.truth.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
  let matching: { encoder: OfferEncoder; threshold: number; outcome: TrainingOutcome } | null = null;
  try {
    matching = ids.length >= 2 && known > 0 ? await trainMatching() : null;
  } catch (error) {
    category.network.dispose();
    throw error;
  }
  async function trainMatching() {
    log('training the offer encoder', { products: ids.length, offers: products.texts.length, validationKnown: known, validationNew: validationProducts.truth.length - known });
    const keep = Array.from(validationProducts.truth.keys()).filter((i) => validationProducts.truth[i] >= 0);
    const result = await trainOfferEncoder({
      ...stageHooks<EncoderTrainingState>(hooks, 'matching', category.steps),
      hyperparameters: EncoderHyperparameters.parse({ dimension: matchDimension, scale: matchScale, learningRate: matchLearningRate, batchSize: matchBatchSize, epochs: hp.epochs, patience: hp.patience, seed: hp.seed }),
      features: tokenizer.features,
      productCount: ids.length,
      train: { texts: products.texts, products: products.truth },
      validation: { texts: keep.map((i) => validationProducts.texts[i]), products: Int32Array.from(keep, (i) => validationProducts.truth[i]) },
    });
    const validated = matchAgainstTraining(result.encoder, data, SPLIT.validation)!;
    return { encoder: result.encoder, threshold: chooseNewProductThreshold(validated.results.similarity, validated.truth), outcome: result };
  }
  if (!matching) log('too few products to learn matching', { trainingProducts: ids.length, validationOffersOfKnownProducts: known });
  const config: CatalogueModelConfig = {
    kind: 'product-categorisation',
    tokenizer: tokenizer.spec,
    maxTitleChars,
    category: category.network.config,
    matching: matching && { encoder: matching.encoder.config, threshold: matching.threshold },
  };
  const weights = [
    ...category.network.namedWeights().map(({ name, tensor }) => ({ name: CATEGORY_PREFIX + name, tensor })),
    ...(matching?.encoder.namedWeights().map(({ name, tensor }) => ({ name: ENCODER_PREFIX + name, tensor })) ?? []),
  ];
  const outcome = matching?.outcome;
  return {
    history: category.history,
    bestEpoch: category.bestEpoch,
    trainSeconds: category.trainSeconds + (outcome?.trainSeconds ?? 0),
    samples: category.samples + (outcome?.samples ?? 0),
    stepSeconds: category.stepSeconds + (outcome?.stepSeconds ?? 0),
    config,
    weights,
    matchingOutcome: outcome ?? null,
    dispose: () => {
      category.network.dispose();
      matching?.encoder.dispose();
    },
  };
}

/** The bundle's tensors split by network, names without their prefix. */
export function splitWeights<T>(tensors: Record<string, T>): { category: Record<string, T>; encoder: Record<string, T> } {
  const category: Record<string, T> = {};
  const encoder: Record<string, T> = {};
  for (const [name, tensor] of Object.entries(tensors)) {
    if (name.startsWith(CATEGORY_PREFIX)) category[name.slice(CATEGORY_PREFIX.length)] = tensor;
    else if (name.startsWith(ENCODER_PREFIX)) encoder[name.slice(ENCODER_PREFIX.length)] = tensor;
    else throw new Error(`weight ${name} belongs to neither the category network nor the offer encoder`);
  }
  return { category, encoder };
}

/** The two networks of a stored bundle in tfjs (evaluation, precompute); the tensors become theirs. */
export function networksOf(config: CatalogueModelConfig, tensors: Record<string, tf.Tensor>): { category: IntentNetwork; encoder: OfferEncoder | null; dispose(): void } {
  const parts = splitWeights(tensors);
  const category = IntentNetwork.fromWeights(config.category, parts.category);
  const encoder = config.matching ? OfferEncoder.fromWeights(config.matching.encoder, parts.encoder) : null;
  return {
    category,
    encoder,
    dispose: () => {
      category.dispose();
      encoder?.dispose();
      tf.dispose(Object.values(tensors));
    },
  };
}
