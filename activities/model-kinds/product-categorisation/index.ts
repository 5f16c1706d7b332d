/**
 * The product-categorisation kind: which category a merchant's offer belongs in, and whether
 * it is a product the store already lists (which one) or a new one, from its title. One
 * tokenizer shared by training and serving, a category network and an offer encoder trained
 * from scratch in TensorFlow.js (model.ts), a catalogue index of known products published
 * with each version (precompute); judged on a held-out split (protocol.ts: random stratified
 * or by merchant) against TF-IDF nearest centroids; served at /catalogue/categorise.
 * Images: the contract carries an offer's image key and serving accepts one, but image
 * recognition is not part of this version (an image-only request is refused by name).
 */
import { Tokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { argmaxRows } from '../../../ml/text/intent-model';
import { NearestCentroid } from '../../../ml/catalogue/nearest-centroid';
import { chooseNewProductThreshold } from '../../../ml/catalogue/matching-metrics';
import { artifactOf } from '../../kind-runtime';
import { offersSource } from './sources';
import { prepareOffers, preparedOffers } from './prepare';
import { CatalogueOptions, SPLIT } from './protocol';
import { CATALOGUE_METRICS, catalogueMetrics, categoryMetrics } from './evaluation';
import { CatalogueHyperparameters, encodeOffers, matchAgainstTraining, networksOf, productRows, trainCatalogueModel, trainingProducts, type CatalogueModelConfig, type EncodedOffers } from './model';
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
  return { texts: rows.map((i) => data.encoded[i]), labels: Int32Array.from(rows, (i) => data.categoryLabels[i]) };
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
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff, options: CatalogueOptions.parse(ctx.config.options) }),
  preprocess: (rt, snapshot) => prepareOffers(rt, snapshot, optionsOf(rt)),

  async train(rt, prepared, hp) {
    const { data, tokenizer } = await encodedData(rt, prepared);
    const trained = await trainCatalogueModel(data, tokenizer, optionsOf(rt).maxTitleChars, hp, rt.hooks, (message, fields) => rt.log.info(fields, message));
    const matching = trained.matchingOutcome;
    return {
      ...trained,
      config: { ...trained.config },
      notes: {
        features: tokenizer.features,
        temperature: +trained.config.category.temperature.toFixed(3),
        ...(matching && trained.config.matching
          ? { matchingEpochs: matching.history.length, matchingBestEpoch: matching.bestEpoch, matchingValidationTop1: matching.history.find((h) => h.epoch === matching.bestEpoch)?.validation, newProductThreshold: +trained.config.matching.threshold.toFixed(4) }
          : { matching: 'not trained: too few products' }),
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
      const predicted = argmaxRows(networks.category.predict(test.texts), data.categories.length);
      const matched = networks.encoder && matchAgainstTraining(networks.encoder, data, SPLIT.test);
      return { metrics: catalogueMetrics(categoryMetrics(test.labels, predicted, data.categories.length), matched && config.matching && { ...matched, threshold: config.matching.threshold }), evaluated: test.labels.length };
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
      return { metrics: catalogueMetrics(category, { results: products.search(heldOut.texts), truth: heldOut.truth, threshold }), evaluated: test.labels.length };
    },
  },

  servingArtifacts: [],
  // The catalogue index: every product of every labelled offer, embedded by this version's encoder.
  precompute: (rt, prepared, model) => buildCatalogueIndex(rt, prepared, model),
  serving: catalogueServing,
  feedback: catalogueFeedback,
  synthetic: () => syntheticOfferFiles(),
};
