/**
 * The product-categorisation kind: which category a merchant's offer belongs in, and whether
 * it is a product the store already lists (which one) or a new one, from its title. One
 * tokenizer shared by training and serving, a category network and an offer encoder trained
 * from scratch in TensorFlow.js (model.ts), a catalogue index of known products published
 * with each version (precompute); judged on a held-out split (protocol.ts: random stratified
 * or by merchant) against TF-IDF nearest centroids; served at /catalogue/categorise.
 * Photos (images.ts): checked and hashed by preprocess (unusable ones quarantined, their
 * offers kept), a photo -> category model trained when there are enough of them, fused with
 * the title model where an offer has both, and served from base64 bytes or an S3 key.
 */
import { Tokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { explainTextSample } from '../../../ml/text/explain-text';
import { argmaxRows } from '../../../ml/text/intent-model';
import { NearestCentroid } from '../../../ml/catalogue/nearest-centroid';
import { chooseNewProductThreshold } from '../../../ml/catalogue/matching-metrics';
import { artifactOf } from '../../kind-runtime';
import { offersSource } from './sources';
import { prepareOffers, preparedOffers, rowsOf } from './prepare';
import { CatalogueOptions, imageLimitsOf, SPLIT } from './protocol';
import { CATALOGUE_METRICS, CATALOGUE_SEGMENTS, catalogueMetrics, catalogueSegments, categoryMetrics } from './evaluation';
import { CatalogueHyperparameters, encodeOffers, labelledPhotos, matchAgainstTraining, networksOf, productRows, trainCatalogueModel, trainingProducts, type CatalogueModelConfig, type EncodedOffers, type PhotoLoader } from './model';
import { loadOfferImages } from './images';
import { accuracy } from '../../../ml/text/metrics';
import { fuseRows } from '../../../ml/catalogue/fusion';
import { topKAccuracy } from '../../../ml/vision/image-classifier';
import type { ImageLimits } from '../../../ml/vision/decode';
import type { Metrics } from '../../../schemas/steps';
import { buildCatalogueIndex, catalogueServing, type LoadedCatalogueModel } from './serving';
import { catalogueFeedback } from './feedback';
import { syntheticOfferFiles } from './synthetic';
import type { KindRuntime, ModelKind } from '../contract';
import type { PreprocessResult } from '../../../schemas/steps';

const optionsOf = (rt: KindRuntime) => CatalogueOptions.parse(rt.ctx.config.options);

/** This run's offers, encoded by `tokenizer` (default: this run's). */
async function encodedData(rt: KindRuntime, prepared: PreprocessResult, tokenizer?: Tokenizer): Promise<{ data: EncodedOffers; tokenizer: Tokenizer }> {
  const [table, bytes] = await Promise.all([rt.readTable(artifactOf(prepared, 'offers')), rt.store.getBytes(artifactOf(prepared, 'tokenizer'))]);
  const own = tokenizer ?? new Tokenizer(JSON.parse(new TextDecoder().decode(bytes)) as TokenizerSpec);
  return { data: encodeOffers(preparedOffers(table), own), tokenizer: own };
}

function testLabels(data: EncodedOffers) {
  const rows = Array.from(data.splits.keys()).filter((i) => data.splits[i] === SPLIT.test && data.categoryLabels[i] >= 0);
  return { rows, texts: rows.map((i) => data.encoded[i]), labels: Int32Array.from(rows, (i) => data.categoryLabels[i]) };
}

/** The run's offer photos, read from its dataset's image folder and verified against their recorded hashes. */
function photoLoader(rt: KindRuntime, data: EncodedOffers, limits: ImageLimits): PhotoLoader {
  return async (rows, size) => {
    const loaded = await loadOfferImages(rt.store, rt.ctx.config.dataset, rows.map((i) => data.images[i]!), size, limits);
    if (loaded.unavailable > 0) rt.log.warn({ unavailable: loaded.unavailable, of: rows.length }, 'offer photos gone or changed since preprocessing are left out');
    return loaded.pixels;
  };
}

/**
 * Category probabilities of the test offers as serving answers them: the title's, fused
 * with the photo's where there is one; and the photo metrics on those offers.
 */
async function servedProbabilities(networks: ReturnType<typeof networksOf>, config: CatalogueModelConfig, data: EncodedOffers, test: ReturnType<typeof testLabels>, photos: PhotoLoader): Promise<{ probabilities: Float32Array; photoMetrics: Metrics }> {
  const classes = data.categories.length;
  const probabilities = networks.category.predict(test.texts);
  if (!networks.image || !config.image) return { probabilities, photoMetrics: {} };
  const position = new Map(test.rows.map((row, k) => [row, k]));
  const withPhotos = await labelledPhotos(data, test.rows.filter((i) => data.images[i] !== null), networks.image.config.inputSize, photos);
  if (withPhotos.rows.length === 0) return { probabilities, photoMetrics: {} };
  const labels = withPhotos.images.fine;
  const image = networks.image.probabilities(withPhotos.images.images).fine;
  const title = new Float32Array(withPhotos.rows.length * classes);
  withPhotos.rows.forEach((row, r) => title.set(probabilities.subarray(position.get(row)! * classes, (position.get(row)! + 1) * classes), r * classes));
  const fused = fuseRows(title, image, classes, config.image.fusionWeight);
  withPhotos.rows.forEach((row, r) => probabilities.set(fused.subarray(r * classes, (r + 1) * classes), position.get(row)! * classes));
  return {
    probabilities,
    photoMetrics: {
      imageTop1: topKAccuracy(image, labels, classes, 1),
      imageTop5: topKAccuracy(image, labels, classes, 5),
      titleAccuracyWithPhotos: accuracy(labels, argmaxRows(title, classes)),
      fusedAccuracy: accuracy(labels, argmaxRows(fused, classes)),
    },
  };
}

export const productCategorisationKind: ModelKind<CatalogueHyperparameters, LoadedCatalogueModel> = {
  name: 'product-categorisation',
  description: 'offer titles to a category and to a known product (or a new one)',
  sources: [offersSource],
  hyperparameters: {
    schema: CatalogueHyperparameters,
    searchSpace: { learningRate: { min: 0.001, max: 0.01, scale: 'log' }, matchScale: { choices: [10, 20, 30] } },
  },
  options: CatalogueOptions,
  metrics: {
    specs: CATALOGUE_METRICS,
    primary: 'accuracy',
    validation: { name: 'accuracy', label: 'validation category accuracy', direction: 'higher', format: 'percent' },
  },
  segments: CATALOGUE_SEGMENTS,
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff, options: CatalogueOptions.parse(ctx.config.options) }),
  preprocess: (rt, snapshot) => prepareOffers(rt, snapshot, optionsOf(rt)),

  async train(rt, prepared, hp) {
    const { data, tokenizer } = await encodedData(rt, prepared);
    const options = optionsOf(rt);
    const limits = imageLimitsOf(options);
    const trained = await trainCatalogueModel(data, tokenizer, { maxTitleChars: options.maxTitleChars, imageLimits: limits }, hp, rt.hooks, (message, fields) => rt.log.info(fields, message), photoLoader(rt, data, limits));
    const matching = trained.matchingOutcome;
    const image = trained.imageOutcome;
    return {
      ...trained,
      config: { ...trained.config },
      notes: {
        features: tokenizer.features,
        temperature: +trained.config.category.temperature.toFixed(3),
        ...(matching && trained.config.matching
          ? { matchingEpochs: matching.history.length, matchingBestEpoch: matching.bestEpoch, matchingValidationTop1: matching.history.find((h) => h.epoch === matching.bestEpoch)?.validation, newProductThreshold: +trained.config.matching.threshold.toFixed(4) }
          : { matching: 'not trained: too few products' }),
        ...(image && trained.config.image
          ? { imageExtractor: image.extractor, imageTrainPhotos: image.trainImages, imageEpochs: image.history.length, imageBestEpoch: image.bestEpoch, imageValidationTop1: image.history.find((h) => h.epoch === image.bestEpoch)?.validation, imageFeatureSeconds: +image.featureSeconds.toFixed(1), fusionWeight: trained.config.image.fusionWeight }
          : { image: 'not trained: too few photos' }),
      },
    };
  },

  async evaluate(rt, prepared, target) {
    const config = target.bundle.config as unknown as CatalogueModelConfig;
    // Encoded with the model's own tokenizer: a served version scored on newer data keeps its vocabulary.
    const { data } = await encodedData(rt, prepared, new Tokenizer(config.tokenizer));
    // The labels index this run's categories: a model of other categories cannot be scored on them.
    if (config.category.intents.join('\n') !== data.categories.join('\n')) {
      throw new Error(`the model predicts ${config.category.intents.length} categories (${config.category.intents.slice(0, 5).join(', ')}, ...); this run's data has ${data.categories.length} (${data.categories.slice(0, 5).join(', ')}, ...)`);
    }
    const networks = networksOf(config, target.bundle.tensors);
    try {
      const test = testLabels(data);
      const served = await servedProbabilities(networks, config, data, test, photoLoader(rt, data, config.imageLimits ?? imageLimitsOf(optionsOf(rt))));
      const predicted = argmaxRows(served.probabilities, data.categories.length);
      const matched = networks.encoder && matchAgainstTraining(networks.encoder, data, SPLIT.test);
      const metrics = catalogueMetrics(categoryMetrics(test.labels, predicted, data.categories.length), matched && config.matching && { ...matched, threshold: config.matching.threshold });
      const explanations = explainTextSample(new Tokenizer(config.tokenizer), networks.category, test.rows.map((i) => data.titles[i]), catalogueServing.explanation.method, "title model's logit of the predicted category");
      const subsetMetrics = (positions: number[]) => categoryMetrics(Int32Array.from(positions, (k) => test.labels[k]), Int32Array.from(positions, (k) => predicted[k]), data.categories.length);
      const segments = catalogueSegments(data.merchants, rowsOf(data, [SPLIT.train], 'category'), test.rows, subsetMetrics);
      return { metrics: { ...metrics, ...served.photoMetrics }, evaluated: test.labels.length, explanations, segments };
    } finally {
      networks.dispose();
    }
  },

  baseline: {
    label: 'TF-IDF nearest centroid',
    async evaluate(rt, prepared) {
      // Categories and products alike: the nearest training centroid; the new-product threshold chosen on validation, as the model's is.
      const { data } = await encodedData(rt, prepared);
      const classes = data.categories.length;
      const trainRows = Array.from(data.splits.keys()).filter((i) => data.splits[i] === SPLIT.train && data.categoryLabels[i] >= 0);
      const categories = NearestCentroid.fit(trainRows.map((i) => data.encoded[i]), Int32Array.from(trainRows, (i) => data.categoryLabels[i]), classes);
      const test = testLabels(data);
      const category = categoryMetrics(test.labels, categories.search(test.texts).nearest, classes);
      const { ids, indexOf } = trainingProducts(data);
      const train = productRows(data, SPLIT.train, indexOf);
      const [validation, heldOut] = [productRows(data, SPLIT.validation, indexOf), productRows(data, SPLIT.test, indexOf)];
      if (ids.length < 2 || validation.texts.length === 0 || heldOut.texts.length === 0) return { metrics: category, evaluated: test.labels.length };
      const products = NearestCentroid.fit(train.texts, train.truth, ids.length);
      const threshold = chooseNewProductThreshold(products.search(validation.texts).similarity, validation.truth);
      return { metrics: catalogueMetrics(category, { results: products.search(heldOut.texts), truth: heldOut.truth, threshold, productIds: heldOut.productIds }), evaluated: test.labels.length };
    },
  },

  servingArtifacts: [],
  // The catalogue index: every product of every labelled offer, embedded by this version's encoder.
  precompute: (rt, prepared, model) => buildCatalogueIndex(rt, prepared, model),
  serving: catalogueServing,
  feedback: catalogueFeedback,
  synthetic: () => syntheticOfferFiles(),
};
