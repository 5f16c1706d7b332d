import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { parseRawFile } from '../../activities/collect/raw-files';
import { OfferRow, REQUIRED_OFFER_COLUMNS } from '../../activities/model-kinds/product-categorisation/rows';
import { assignSplits, CatalogueOptions, SPLIT } from '../../activities/model-kinds/product-categorisation/protocol';
import { categorise, embedTitle, OutcomeRequest, parseOffers, type LoadedCatalogueModel } from '../../activities/model-kinds/product-categorisation/serving';
import { CatalogueHyperparameters, encodeOffers, matchAgainstTraining, trainCatalogueModel, networksOf } from '../../activities/model-kinds/product-categorisation/model';
import { catalogueFeedback } from '../../activities/model-kinds/product-categorisation/feedback';
import { DEFAULT_OFFER_SIMULATION, simulateOffers } from '../../activities/model-kinds/product-categorisation/synthetic';
import { fitTokenizer, HashingParams, Tokenizer } from '../../ml/text/tokenizer';
import { IntentScorer } from '../../ml/text/intent-scorer';
import { argmaxRows } from '../../ml/text/intent-model';
import { ProductIndex } from '../../ml/catalogue/product-index';
import { NearestCentroid } from '../../ml/catalogue/nearest-centroid';
import { chooseNewProductThreshold, matchingMetrics } from '../../ml/catalogue/matching-metrics';
import { selectBackend } from '../../ml/backend';
import { describeRequestIssue } from '../../schemas/serving';
import { accuracy } from '../../ml/text/metrics';
import { DEFAULT_IMAGE_LIMITS } from '../../ml/vision/decode';
import { preparedOffersOf } from './catalogue-fixtures';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { KindRuntime } from '../../activities/model-kinds/contract';
import type { PreprocessResult } from '../../schemas/steps';
import type { FeedbackConfig } from '../../schemas/lifecycle-input';

describe('product-categorisation rows', () => {
  it('quarantines empty and oversize titles and missing merchants, naming row and field; keeps unlabelled offers and image keys', async () => {
    const long = 'x'.repeat(501);
    const csv = Buffer.from(
      [
        'offer_id,title,merchant_id,category,product_id,image,price',
        'o1,Samsung Galaxy S9 64GB,m1,Mobile Phones,p1,images/o1.jpg,499.00',
        'o2,  ,m1,Mobile Phones,p1,,',
        `o3,${long},m2,TVs,,,`,
        'o4,Bosch KGN36VL35G fridge freezer,,Fridge Freezers,,,',
        'o5,LG OLED55C8 55in TV,m3,,,,',
      ].join('\n') + '\n',
    );
    const parsed = await parseRawFile('offers.csv', csv, OfferRow, REQUIRED_OFFER_COLUMNS);
    assert.equal(parsed.totalRows, 5);
    assert.deepEqual(parsed.problems.map((p) => [p.row, p.field]), [[2, 'title'], [3, 'title'], [4, 'merchant_id']]);
    assert.match(parsed.problems[0].message, /empty/);
    assert.match(parsed.problems[1].message, /at most 500/);
    assert.deepEqual(parsed.rows.map((r) => [r.offer_id, r.category, r.product_id, r.image, r.price]), [['o1', 'Mobile Phones', 'p1', 'images/o1.jpg', 499], ['o5', null, null, null, null]]);
  });

  it('refuses an image key that climbs out of its prefix and an unknown column', () => {
    const bad = OfferRow.safeParse({ offer_id: 'o', title: 't', merchant_id: 'm', image: 'a/../../secret', colour: 'red' });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error!.issues.map((i) => (i.code === 'unrecognized_keys' ? i.keys.join() : i.path.join('.'))).sort(), ['colour', 'image']);
  });
});

describe('product-categorisation splits', () => {
  const offers = Array.from({ length: 3000 }, (_, i) => ({ offerId: `o${i}`, merchantId: `m${i % 37}`, category: i % 10 === 9 ? null : `c${i % 3}` }));

  it('random: exactly stratified by category, stable for an offer when more data arrives', () => {
    const options = CatalogueOptions.parse({});
    const splits = assignSplits(offers, options);
    for (const category of ['c0', 'c1', 'c2']) {
      const members = offers.map((_, i) => i).filter((i) => offers[i].category === category);
      const test = members.filter((i) => splits[i] === SPLIT.test).length;
      assert.equal(test, Math.round(0.2 * members.length), category);
      const validation = members.filter((i) => splits[i] === SPLIT.validation).length;
      assert.equal(validation, Math.round(0.1 * (members.length - test)), category);
    }
    const more = assignSplits([...offers, ...Array.from({ length: 30 }, (_, i) => ({ offerId: `new${i}`, merchantId: 'm1', category: 'c0' }))], options);
    const moved = offers.filter((_, i) => more[i] !== splits[i]).length;
    assert.ok(moved < 15, `${moved} offers changed split`);
  });

  it('merchant: test and validation merchants are never training merchants', () => {
    const splits = assignSplits(offers, CatalogueOptions.parse({ split: 'merchant' }));
    const merchantsOf = (split: number) => new Set(offers.filter((_, i) => splits[i] === split).map((o) => o.merchantId));
    const [train, validation, test] = [merchantsOf(SPLIT.train), merchantsOf(SPLIT.validation), merchantsOf(SPLIT.test)];
    for (const m of test) assert.ok(!train.has(m) && !validation.has(m), m);
    for (const m of validation) assert.ok(!train.has(m), m);
    const testShare = offers.filter((_, i) => splits[i] === SPLIT.test).length / offers.length;
    assert.ok(testShare >= 0.2 && testShare < 0.25, String(testShare));
  });
});

describe('product-categorisation requests', () => {
  const fieldOf = (body: unknown) => {
    const parsed = parseOffers(body, 40);
    return parsed.success ? null : describeRequestIssue(parsed.error).field;
  };

  it('takes a title, an image, both, or a batch; names the field of a missing title and image, an oversize title', () => {
    assert.equal(fieldOf({ title: 'Apple iPhone 8 64GB', merchant_id: 'm1' }), null);
    assert.equal(fieldOf({ title: 'Apple iPhone 8 64GB', image: 'images/a.jpg' }), null);
    assert.equal(fieldOf({ image: 'images/a.jpg' }), null);
    assert.equal(fieldOf({ merchant_id: 'm1' }), 'title');
    assert.equal(fieldOf({ image: '' }), 'image');
    assert.equal(fieldOf({ title: 'x'.repeat(41) }), 'title');
    assert.equal(fieldOf([{ title: 'fine' }, { title: '' }]), '[1].title');
    assert.equal(fieldOf({ title: 'fine', colour: 'red' }), 'colour');
    assert.equal(fieldOf(Array.from({ length: 101 }, () => ({ title: 'x' }))), '(body)');
  });

  it('a correction names what it corrects', () => {
    const field = (body: unknown) => {
      const parsed = OutcomeRequest.safeParse(body);
      return parsed.success ? null : describeRequestIssue(parsed.error).field;
    };
    assert.equal(field({ type: 'category_corrected', request_id: 'r' }), 'category');
    assert.equal(field({ type: 'match_corrected', request_id: 'r' }), 'product_id');
    assert.equal(field({ type: 'match_corrected', request_id: 'r', new_product: true }), null);
    assert.equal(field({ type: 'match_corrected', request_id: 'r', product_id: 'p', new_product: true }), 'new_product');
  });
});

describe('product matching metrics', () => {
  it('chooses the new-product threshold of the best F1 on validation, ties together', () => {
    // Known offers (truth >= 0) are similar to their product, new ones less so, with one overlap.
    const similarity = Float32Array.from([0.95, 0.9, 0.85, 0.6, 0.55, 0.5, 0.88]);
    const truth = Int32Array.from([0, 1, 2, -1, -1, -1, -1]);
    const threshold = chooseNewProductThreshold(similarity, truth);
    // Below 0.85: P 1, R 3/4, F1 .857; below 0.9: P 4/5, R 1, F1 .889 (the best).
    assert.equal(threshold, Math.fround(0.9));
    const metrics = matchingMetrics({ nearest: Int32Array.from([0, 1, 0, 0, 0, 0, 0]), similarity }, truth, threshold);
    assert.deepEqual(metrics, { matchTop1: 2 / 3, newProductPrecision: 4 / 5, newProductRecall: 1, newProductF1: (2 * 0.8) / 1.8 });
    assert.equal(chooseNewProductThreshold(Float32Array.from([0.7, 0.7, 0.9]), Int32Array.from([-1, 0, 0])), Math.fround(0.9), 'a cut never splits equal similarities: both at 0.7 are flagged');
    assert.equal(chooseNewProductThreshold(Float32Array.from([0.7, 0.8]), Int32Array.from([0, 1])), Math.fround(0.7), 'no new product: nothing flagged');
  });

  it('exact search: plain JavaScript and batch search agree, absent products are never returned', () => {
    const dimension = 4;
    const unitRows = (values: number[]) => {
      const out = Float32Array.from(values);
      for (let r = 0; r < out.length / dimension; r++) {
        const n = Math.hypot(...out.subarray(r * dimension, (r + 1) * dimension));
        for (let d = 0; d < dimension; d++) out[r * dimension + d] /= n;
      }
      return out;
    };
    const offers = unitRows([1, 0, 0, 0, 0.9, 0.1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1]);
    const index = ProductIndex.fromOffers(offers, Int32Array.from([0, 0, 1, 3]), 4, dimension);
    assert.deepEqual(Array.from(index.present), [1, 1, 0, 1]);
    const queries = unitRows([1, 0.2, 0, 0, 0, 0, 1, 0, 0.1, 1, 0, 0]);
    const batch = index.searchBatch(queries);
    for (let q = 0; q < 3; q++) {
      const one = index.nearest(Float64Array.from(queries.subarray(q * dimension, (q + 1) * dimension)));
      assert.equal(one.product, batch.nearest[q]);
      assert.ok(Math.abs(one.similarity - batch.similarity[q]) < 1e-5);
    }
    assert.deepEqual(Array.from(batch.nearest), [0, 3, 1]);
  });

  it('TF-IDF nearest centroid finds the class that shares the words', () => {
    const tokenizer = new Tokenizer(fitTokenizer(['bosch fridge freezer', 'bosch washing machine', 'lg fridge freezer', 'lg washing machine'], HashingParams.parse({ minDocumentFrequency: 1 })));
    const model = NearestCentroid.fit(tokenizer.encodeAll(['bosch fridge freezer', 'lg fridge freezer', 'bosch washing machine', 'lg washing machine']), Int32Array.from([0, 0, 1, 1]), 2);
    assert.deepEqual(Array.from(model.search(tokenizer.encodeAll(['samsung fridge freezer', 'washing machine'])).nearest), [0, 1]);
  });
});

describe('product-categorisation model', function () {
  this.timeout(300_000);
  before(async () => {
    await selectBackend();
  });
  const offers = simulateOffers({ ...DEFAULT_OFFER_SIMULATION, products: 300, seed: 5 });
  const { labelled, splits, categories, data, tokenizer } = preparedOffersOf(offers);

  it('trains both networks on synthetic offers; serving in plain JavaScript gives the tfjs answers; the tokenizer survives the trip', async () => {
    const encoded = encodeOffers(data, tokenizer);
    const hp = CatalogueHyperparameters.parse({ hiddenLayers: [32], matchDimension: 32, epochs: 12 });
    const trained = await trainCatalogueModel(encoded, tokenizer, { maxTitleChars: 300, imageLimits: DEFAULT_IMAGE_LIMITS }, hp, {}, () => undefined);
    assert.equal(trained.config.image, null, 'no photos, no photo model');
    assert.ok(trained.config.matching, 'matching trained');
    const config = JSON.parse(JSON.stringify(trained.config)) as typeof trained.config;
    const tensors = Object.fromEntries(trained.weights.map(({ name, tensor }) => [name, tf.clone(tensor)]));
    trained.dispose();
    const networks = networksOf(config, tensors);
    try {
      const test = Array.from(splits.keys()).filter((i) => splits[i] === SPLIT.test && data.categoryLabels[i] >= 0);
      const texts = test.map((i) => encoded.encoded[i]);
      const probabilities = networks.category.predict(texts);
      const labels = Int32Array.from(test, (i) => data.categoryLabels[i]);
      assert.ok(accuracy(labels, argmaxRows(probabilities, categories.length)) > 0.8);
      const matched = matchAgainstTraining(networks.encoder!, encoded, SPLIT.test)!;
      const metrics = matchingMetrics(matched.results, matched.truth, config.matching!.threshold);
      assert.ok(metrics.matchTop1 > 0.6 && metrics.newProductF1 > 0.3, JSON.stringify(metrics));

      // Serving rebuilds the tokenizer from the config (a JSON round trip) and encodes exactly as the batch path did.
      const servingTokenizer = new Tokenizer(config.tokenizer);
      test.forEach((row, r) => {
        const online = servingTokenizer.encode(data.titles[row]);
        assert.deepEqual(Array.from(online.indices), Array.from(texts[r].indices));
        assert.deepEqual(Array.from(online.weights), Array.from(texts[r].weights));
      });

      // The plain-JavaScript networks answer as the tfjs ones do, to float32 rounding.
      const arrays = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.dataSync() as Float32Array]));
      const encoder = { kernel: arrays['encoder/bag/kernel'], bias: arrays['encoder/bag/bias'] };
      const batchEmbeddings = networks.encoder!.embed(texts);
      texts.forEach((text, r) => {
        const online = embedTitle(encoder, text);
        for (let d = 0; d < online.length; d++) assert.ok(Math.abs(online[d] - batchEmbeddings[r * online.length + d]) < 1e-5, `offer ${r} dimension ${d}`);
      });
      const categoryWeights = Object.fromEntries(Object.entries(arrays).filter(([n]) => n.startsWith('category/')).map(([n, a]) => [n.slice('category/'.length), a]));
      const scorer = IntentScorer.fromWeights(config.category, categoryWeights);
      const served = scorer.predict(texts);
      probabilities.forEach((p, i) => assert.ok(Math.abs(p - served[i]) < 1e-5, `entry ${i}`));

      // categorise(): top-3 categories, the nearest product or a new-product flag.
      const { ids } = { ids: [...new Set(labelled.map((o) => o.product_id).filter((p): p is string => p !== null))].sort() };
      const rows = Array.from(data.products.keys()).filter((i) => data.products[i] !== null);
      const index = ProductIndex.fromOffers(networks.encoder!.embed(rows.map((i) => encoded.encoded[i])), Int32Array.from(rows, (i) => ids.indexOf(data.products[i]!)), ids.length, config.matching!.encoder.dimension);
      const loaded: LoadedCatalogueModel = { config, tokenizer: servingTokenizer, category: scorer, matching: { ...encoder, threshold: config.matching!.threshold, index, products: ids.map((id) => ({ id, category: null, title: id })) }, image: null, dataset: 'unit', store: {} as ObjectStore };
      const known = rows[0];
      const [answer, strange] = categorise(loaded, [data.titles[known], 'zzqx unheard-of gadget 9000']);
      assert.equal(answer.categories.length, 3);
      assert.ok(answer.categories[0].probability >= answer.categories[1].probability);
      assert.equal(answer.product?.id, data.products[known]);
      assert.equal(answer.newProduct, false, 'an indexed title is its own product');
      assert.equal(strange.newProduct, true, 'a title sharing nothing with the catalogue is a new product');
    } finally {
      networks.dispose();
    }
  });
});

describe('product-categorisation feedback walk', () => {
  it('joins corrections to answers by request and item, per version', () => {
    const rt = { log: { info: () => undefined } } as unknown as KindRuntime;
    const walk = catalogueFeedback.start(rt, {} as PreprocessResult, {} as FeedbackConfig);
    const answer = (version: string, request: string, item: number, category: string, product: string | null, newProduct: boolean) =>
      walk.add({ type: 'prediction', model_version: version, request_id: request, item, predicted_category: category, confidence: 0.9, matched_product: product, similarity: 0.8, new_product: newProduct, words: 5, unknown_words: 1, timestamp: Date.UTC(2026, 5, 1) });
    answer('v1', 'r1', 0, 'TVs', 'p1', false);
    answer('v1', 'r1', 1, 'Fridges', 'p2', true);
    answer('v1', 'r2', 0, 'TVs', 'p3', true);
    answer('v2', 'r3', 0, 'TVs', 'p1', false);
    const outcome = (type: string, request: string, item: number, extra: Record<string, unknown> = {}) => walk.add({ type, model_version: 'v1', request_id: request, item, timestamp: Date.UTC(2026, 5, 2), ...extra });
    outcome('category_confirmed', 'r1', 0);
    outcome('category_corrected', 'r1', 1, { category: 'Freezers' });
    outcome('match_corrected', 'r1', 1, { new_product: true }); // the flag was right
    outcome('match_corrected', 'r2', 0, { product_id: 'p9' }); // the flag was wrong: it is p9
    outcome('match_confirmed', 'r1', 0);
    walk.endDay();
    const perVersion = walk.perVersion();
    assert.deepEqual(perVersion.v1.metrics, { newProductShare: 2 / 3, outcomes: 5, corrections: 2, onlineAccuracy: 0.5, matchAccuracy: 2 / 3, newProductConfirmed: 0.5 });
    assert.deepEqual(perVersion.v2.metrics, { newProductShare: 0, outcomes: 0, corrections: 0 }, 'no outcome: no online accuracy');
  });
});
