/**
 * The product-categorisation model: two networks on one tokenizer (ml/text/tokenizer.ts),
 *
 *   category  title -> category: the intent network (ml/text/intent-model.ts; an embedding
 *             bag over hashed word and character n-grams, a ReLU layer, a softmax), which is
 *             a text classifier whatever the classes are, temperature-scaled on validation;
 *   matching  title -> unit embedding (ml/catalogue/offer-encoder.ts), matched to the nearest
 *             known product's centroid, or flagged as a new product below a similarity
 *             threshold chosen on validation (ml/catalogue/matching-metrics.ts);
 *   image     photo -> category (ml/vision/image-classifier.ts), when the training and
 *             validation offers have photos: the frozen ImageNet backbone where
 *             `npm run vision:install` put it, else the small CNN from scratch. Its
 *             probabilities and the title's are fused (ml/catalogue/fusion.ts) with a weight
 *             chosen on the validation offers that have both.
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
import { availableExtractor, ImageClassifier, ImageHyperparameters, trainImageClassifier, type ImageClassifierConfig, type ImageTrainingState, type LabelledImages } from '../../../ml/vision/image-classifier';
import { BACKBONE_ARCHITECTURE, sharedBackbone } from '../../../ml/vision/efficientnet-lite';
import { chooseFusionWeight } from '../../../ml/catalogue/fusion';
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
  /** The photo model's (ImageHyperparameters); `extractor` defaults to what is installed. */
  image: ImageHyperparameters.partial().default({}),
});
export type CatalogueHyperparameters = z.output<typeof CatalogueHyperparameters>;

export interface CatalogueModelConfig {
  kind: 'product-categorisation';
  tokenizer: TokenizerSpec;
  maxTitleChars: number;
  category: IntentNetworkConfig;
  /** Null when the training data names too few products to learn matching. */
  matching: { encoder: OfferEncoderConfig; threshold: number } | null;
  /** Null when the data has too few photos; its classes are `category.intents`. */
  image: { classifier: ImageClassifierConfig; fusionWeight: number } | null;
  /** Photos over these are refused (preprocess quarantines them, serving answers 400). */
  imageLimits: { maxBytes: number; maxPixels: number };
}

const CATEGORY_PREFIX = 'category/';
const ENCODER_PREFIX = 'encoder/';
const IMAGE_PREFIX = 'image/';
/** Fewer training photos than this, or no validation photo, and no image model is trained. */
export const MIN_TRAINING_IMAGES = 20;

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

/** Offers of a split with a product, their product ids, and their truth against the training products (-1: new). */
export function productRows(data: EncodedOffers, split: number, indexOf: Map<string, number>): { texts: EncodedText[]; truth: MatchTruth; productIds: string[] } {
  const rows = rowsOf(data, [split], 'product');
  return { texts: rows.map((i) => data.encoded[i]), truth: Int32Array.from(rows, (i) => indexOf.get(data.products[i]!) ?? -1), productIds: rows.map((i) => data.products[i]!) };
}

/** Matches offers against the index of the training offers' centroids. */
export function matchAgainstTraining(encoder: OfferEncoder, data: EncodedOffers, split: number): { results: MatchResults; truth: MatchTruth; productIds: string[] } | null {
  const { ids, indexOf } = trainingProducts(data);
  const train = productRows(data, SPLIT.train, indexOf);
  const queries = productRows(data, split, indexOf);
  if (ids.length === 0 || queries.texts.length === 0) return null;
  const index = ProductIndex.fromOffers(encoder.embed(train.texts), train.truth, ids.length, encoder.config.dimension);
  return { results: index.searchBatch(encoder.embed(queries.texts)), truth: queries.truth, productIds: queries.productIds };
}

type Stage = 'category' | 'matching' | 'image';
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
  /** How the photo model trained, and the photos it had. */
  imageOutcome: (TrainingOutcome & { extractor: string; trainImages: number; validationImages: number; featureSeconds: number }) | null;
  dispose(): void;
}

/** The photos of some offers (row indices of the data) decoded at `size` x `size` RGB; null for one no longer available. */
export type PhotoLoader = (rows: readonly number[], size: number) => Promise<(Uint8Array | null)[]>;

export interface CatalogueModelSettings {
  maxTitleChars: number;
  imageLimits: CatalogueModelConfig['imageLimits'];
}

/** Offers of a split with a category and a photo. */
export function photoRows(data: PreparedOffers, split: number): number[] {
  return rowsOf(data, [split], 'category').filter((i) => data.images[i] !== null);
}

/** The photos of `rows` with their categories as both granularities (the store has one level of labels); photos no longer available are left out. */
export async function labelledPhotos(data: PreparedOffers, rows: readonly number[], size: number, photos: PhotoLoader): Promise<{ rows: number[]; images: LabelledImages }> {
  const pixels = await photos(rows, size);
  const kept = rows.filter((_, k) => pixels[k] !== null);
  const labels = Int32Array.from(kept, (i) => data.categoryLabels[i]);
  return { rows: kept, images: { images: pixels.filter((p): p is Uint8Array => p !== null), size, fine: labels, coarse: labels } };
}

export async function trainCatalogueModel(data: EncodedOffers, tokenizer: Tokenizer, settings: CatalogueModelSettings, hp: CatalogueHyperparameters, hooks: TrainingHooks<unknown>, log: (message: string, fields: Record<string, unknown>) => void, photos?: PhotoLoader): Promise<TrainedCatalogueModel> {
  const { matchDimension, matchScale, matchLearningRate, matchBatchSize, image: imageOverrides, ...categoryHp } = hp;
  const train = categoryRows(data, SPLIT.train);
  const validation = categoryRows(data, SPLIT.validation);
  log('training the category network', { train: train.labels.length, validation: validation.labels.length, categories: data.categories.length, features: tokenizer.features });
  const category = await trainIntentNetwork({ ...stageHooks<IntentTrainingState>(hooks, 'category', 0), hyperparameters: categoryHp, features: tokenizer.features, intents: data.categories, train, validation });

  const { ids, indexOf } = trainingProducts(data);
  const products = productRows(data, SPLIT.train, indexOf);
  const validationProducts = productRows(data, SPLIT.validation, indexOf);
  const known = validationProducts.truth.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
  let matching: { encoder: OfferEncoder; threshold: number; outcome: TrainingOutcome; steps: number } | null = null;
  let image: { classifier: ImageClassifier; fusionWeight: number; outcome: NonNullable<TrainedCatalogueModel['imageOutcome']> } | null = null;
  const trainPhotos = photoRows(data, SPLIT.train);
  const validationPhotos = photoRows(data, SPLIT.validation);
  try {
    matching = ids.length >= 2 && known > 0 ? await trainMatching() : null;
    if (!matching) log('too few products to learn matching', { trainingProducts: ids.length, validationOffersOfKnownProducts: known });
    image = photos && trainPhotos.length >= MIN_TRAINING_IMAGES && validationPhotos.length > 0 ? await trainImage(photos) : null;
    if (!image && trainPhotos.length + validationPhotos.length > 0) log('too few photos to learn categories from them', { trainingPhotos: trainPhotos.length, validationPhotos: validationPhotos.length, needed: MIN_TRAINING_IMAGES });
  } catch (error) {
    category.network.dispose();
    matching?.encoder.dispose();
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
    return { encoder: result.encoder, threshold: chooseNewProductThreshold(validated.results.similarity, validated.truth), outcome: result, steps: result.steps };
  }
  async function trainImage(load: PhotoLoader) {
    const imageHp = ImageHyperparameters.parse({ extractor: availableExtractor(), seed: hp.seed, ...imageOverrides });
    const backbone = imageHp.extractor === BACKBONE_ARCHITECTURE ? sharedBackbone() : undefined;
    const size = backbone?.inputSize ?? imageHp.cnnInputSize;
    const [trainSet, validationSet] = [await labelledPhotos(data, trainPhotos, size, load), await labelledPhotos(data, validationPhotos, size, load)];
    log('training the photo model', { extractor: imageHp.extractor, train: trainSet.rows.length, validation: validationSet.rows.length, unavailable: trainPhotos.length + validationPhotos.length - trainSet.rows.length - validationSet.rows.length });
    const result = await trainImageClassifier({
      ...stageHooks<ImageTrainingState>(hooks, 'image', category.steps + (matching?.steps ?? 0)),
      hyperparameters: imageHp,
      fineClasses: data.categories,
      coarseClasses: data.categories,
      train: trainSet.images,
      validation: validationSet.images,
      backbone,
    });
    // The fusion weight: on the validation offers with both a title and a photo.
    const titleProbabilities = category.network.predict(validationSet.rows.map((i) => data.encoded[i]));
    const imageProbabilities = result.classifier.probabilities(validationSet.images.images).fine;
    const fusion = chooseFusionWeight(titleProbabilities, imageProbabilities, validationSet.images.fine, data.categories.length);
    log('photo model trained', { extractor: imageHp.extractor, bestEpoch: result.bestEpoch, fusionWeight: fusion.weight, validationLogLoss: +fusion.logLoss.toFixed(4) });
    const { classifier, featureSeconds, ...outcome } = result;
    return { classifier, fusionWeight: fusion.weight, outcome: { ...outcome, extractor: imageHp.extractor, trainImages: trainSet.rows.length, validationImages: validationSet.rows.length, featureSeconds } };
  }
  const config: CatalogueModelConfig = {
    kind: 'product-categorisation',
    tokenizer: tokenizer.spec,
    maxTitleChars: settings.maxTitleChars,
    category: category.network.config,
    matching: matching && { encoder: matching.encoder.config, threshold: matching.threshold },
    image: image && { classifier: image.classifier.config, fusionWeight: image.fusionWeight },
    imageLimits: settings.imageLimits,
  };
  const weights = [
    ...category.network.namedWeights().map(({ name, tensor }) => ({ name: CATEGORY_PREFIX + name, tensor })),
    ...(matching?.encoder.namedWeights().map(({ name, tensor }) => ({ name: ENCODER_PREFIX + name, tensor })) ?? []),
    ...(image?.classifier.namedWeights().map(({ name, tensor }) => ({ name: IMAGE_PREFIX + name, tensor })) ?? []),
  ];
  const stages = [matching?.outcome, image?.outcome].filter((o): o is TrainingOutcome => o !== undefined);
  return {
    history: category.history,
    bestEpoch: category.bestEpoch,
    trainSeconds: category.trainSeconds + stages.reduce((t, o) => t + o.trainSeconds, 0),
    samples: category.samples + stages.reduce((t, o) => t + o.samples, 0),
    stepSeconds: category.stepSeconds + stages.reduce((t, o) => t + o.stepSeconds, 0),
    config,
    weights,
    matchingOutcome: matching?.outcome ?? null,
    imageOutcome: image?.outcome ?? null,
    dispose: () => {
      category.network.dispose();
      matching?.encoder.dispose();
      image?.classifier.dispose();
    },
  };
}

/** The bundle's tensors split by network, names without their prefix. */
export function splitWeights<T>(tensors: Record<string, T>): { category: Record<string, T>; encoder: Record<string, T>; image: Record<string, T> } {
  const parts = { category: {} as Record<string, T>, encoder: {} as Record<string, T>, image: {} as Record<string, T> };
  const prefixes = [[CATEGORY_PREFIX, parts.category], [ENCODER_PREFIX, parts.encoder], [IMAGE_PREFIX, parts.image]] as const;
  for (const [name, tensor] of Object.entries(tensors)) {
    const part = prefixes.find(([prefix]) => name.startsWith(prefix));
    if (!part) throw new Error(`weight ${name} belongs to none of the category network, the offer encoder and the photo model`);
    part[1][name.slice(part[0].length)] = tensor;
  }
  return parts;
}

/** The photo model of a stored bundle on its own tensors (which stay the caller's), or null without one. */
export function imageClassifierOf(config: CatalogueModelConfig, tensors: Record<string, tf.Tensor>): ImageClassifier | null {
  return config.image ? ImageClassifier.load(config.image.classifier, splitWeights(tensors).image) : null;
}

/** The two networks of a stored bundle in tfjs (evaluation, precompute); the tensors become theirs. */
export function networksOf(config: CatalogueModelConfig, tensors: Record<string, tf.Tensor>): { category: IntentNetwork; encoder: OfferEncoder | null; image: ImageClassifier | null; dispose(): void } {
  const parts = splitWeights(tensors);
  const category = IntentNetwork.fromWeights(config.category, parts.category);
  const encoder = config.matching ? OfferEncoder.fromWeights(config.matching.encoder, parts.encoder) : null;
  const image = imageClassifierOf(config, tensors);
  return {
    category,
    encoder,
    image,
    dispose: () => {
      category.dispose();
      encoder?.dispose();
      image?.dispose();
      tf.dispose(Object.values(tensors));
    },
  };
}
