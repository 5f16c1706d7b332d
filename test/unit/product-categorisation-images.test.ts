import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { chooseFusionWeight, fuseRow } from '../../ml/catalogue/fusion';
import { pairF1 } from '../../ml/catalogue/matching-metrics';
import { encodePngSync, syntheticImagePixels } from '../../ml/vision/synthetic-images';
import { DEFAULT_IMAGE_LIMITS } from '../../ml/vision/decode';
import { seededRng } from '../../ml/random';
import { selectBackend } from '../../ml/backend';
import { imagePrefix, inspectOfferImages, loadOfferImages } from '../../activities/model-kinds/product-categorisation/images';
import { addSyntheticPhotos, DEFAULT_OFFER_SIMULATION, simulateOffers } from '../../activities/model-kinds/product-categorisation/synthetic';
import { SPLIT } from '../../activities/model-kinds/product-categorisation/protocol';
import { CatalogueHyperparameters, encodeOffers, networksOf, photoRows, trainCatalogueModel, type PhotoLoader } from '../../activities/model-kinds/product-categorisation/model';
import { categorise, loadCatalogueModel, photoProbabilities } from '../../activities/model-kinds/product-categorisation/serving';
import { sha256Hex } from '../../schemas/artifacts';
import { joinCorrections } from '../../activities/model-kinds/product-categorisation/corrections';
import { preparedOffersOf } from './catalogue-fixtures';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { ModelBundle } from '../../activities/model-kinds/contract';
import type { VersionManifest } from '../../activities/registry/serving-registry';

/** An object store of a few keys in memory (what the image code reads: getWithEtag). */
function memoryStore(objects: Map<string, Uint8Array>): ObjectStore {
  return { getWithEtag: async (key: string) => (objects.has(key) ? { bytes: objects.get(key)!, etag: '"e"' } : undefined) } as unknown as ObjectStore;
}

describe('catalogue fusion and pair F1', () => {
  it('log-linear fusion: weight 0 is the title, 1 the photo; the weight is chosen by validation log-loss', () => {
    const title = Float32Array.from([0.7, 0.2, 0.1]);
    const image = Float32Array.from([0.1, 0.8, 0.1]);
    assert.ok(Array.from(fuseRow(title, image, 0)).every((p, c) => Math.abs(p - title[c]) < 1e-6));
    assert.ok(Array.from(fuseRow(title, image, 1)).every((p, c) => Math.abs(p - image[c]) < 1e-6));
    const half = fuseRow(title, image, 0.5);
    assert.ok(Math.abs(half.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    assert.ok(half[1] > half[0], 'the sure photo outweighs the unsure title');
    // Photos right, titles wrong half the time: the photo gets the weight.
    const labels = Int32Array.from([1, 1, 0, 0]);
    const titles = Float32Array.from([0.6, 0.4, 0.4, 0.6, 0.6, 0.4, 0.4, 0.6]);
    const photos = Float32Array.from([0.1, 0.9, 0.1, 0.9, 0.9, 0.1, 0.9, 0.1]);
    assert.equal(chooseFusionWeight(titles, photos, labels, 2).weight, 1);
    assert.equal(chooseFusionWeight(photos, titles, labels, 2).weight, 0);
  });

  it('pairwise matching F1: pairs predicted together against pairs of the same product; a new-product flag pairs with nothing', () => {
    // Offers of products a, a, a, b; predicted 0, 0, new, 0: one right pair of three true, of three predicted.
    const { precision, recall, f1 } = pairF1(Int32Array.from([0, 0, -1, 0]), ['a', 'a', 'a', 'b']);
    assert.deepEqual([precision, recall], [1 / 3, 1 / 3]);
    assert.ok(Math.abs(f1 - 1 / 3) < 1e-12);
    assert.equal(pairF1(Int32Array.from([3, 3, 5]), ['a', 'a', 'b']).f1, 1);
  });
});

describe('catalogue corrections', () => {
  const T = Date.UTC(2026, 5, 1);
  it('join answers and outcomes by request and item into labelled offers; the newest outcome wins; no outcome, no label', () => {
    const answer = (request: string, item: number, title: string | null, category: string, product: string | null, isNew: boolean) => ({ type: 'prediction', request_id: request, item, title, merchant_id: 'm1', predicted_category: category, matched_product: product, new_product: isNew, timestamp: T + 1000 });
    const joined = joinCorrections([
      { type: 'category_corrected', request_id: 'r1', item: 0, category: 'Fridges', timestamp: T + 3000 },
      answer('r1', 0, 'bosch kgn fridge', 'Freezers', 'p1', false),
      { type: 'category_corrected', request_id: 'r1', item: 0, category: 'Fridge Freezers', timestamp: T + 2000 },
      { type: 'match_confirmed', request_id: 'r1', item: 0, timestamp: T + 2500 },
      answer('r1', 1, 'lg tv', 'TVs', 'p2', true),
      { type: 'match_corrected', request_id: 'r1', item: 1, product_id: 'p9', timestamp: T + 2000 },
      answer('r2', 0, 'no outcome', 'TVs', 'p3', false),
      answer('r3', 0, null, 'TVs', null, false),
      { type: 'category_confirmed', request_id: 'r3', item: 0, timestamp: T + 2000 },
      answer('r4', 0, 'flagged new, confirmed new', 'TVs', 'p4', true),
      { type: 'match_confirmed', request_id: 'r4', item: 0, timestamp: T + 2000 },
    ]);
    assert.deepEqual(joined, [
      { offerId: 'feedback:r1:0', title: 'bosch kgn fridge', merchantId: 'm1', category: 'Fridges', productId: 'p1', time: T + 3000 },
      { offerId: 'feedback:r1:1', title: 'lg tv', merchantId: 'm1', category: null, productId: 'p9', time: T + 2000 },
    ]);
  });
});

describe('catalogue photos', function () {
  this.timeout(300_000);
  before(async () => {
    await selectBackend();
  });

  it('encodes PNGs that decode to the same pixels', async () => {
    const pixels = syntheticImagePixels(4, 24, seededRng(1));
    const { data, info } = await sharp(Buffer.from(encodePngSync(pixels, 24))).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [24, 24, 3]);
    assert.deepEqual(new Uint8Array(data), pixels);
  });

  it('preprocess keeps usable photos by hash and quarantines missing, cut-off and non-image ones, keeping their offers', async () => {
    const good = encodePngSync(syntheticImagePixels(0, 32, seededRng(2)), 32);
    const objects = new Map([
      [`${imagePrefix('d')}good.png`, good],
      [`${imagePrefix('d')}cut.png`, good.subarray(0, good.length / 2)],
      [`${imagePrefix('d')}page.png`, new TextEncoder().encode('<html>')],
      [`${imagePrefix('d')}big.png`, encodePngSync(syntheticImagePixels(0, 64, seededRng(3)), 64)],
    ]);
    const offers = ['good', 'cut', 'page', 'gone', 'big'].map((name) => ({ offerId: name, image: `${name}.png` }));
    const checked = await inspectOfferImages(memoryStore(objects), 'd', [...offers, { offerId: 'none', image: null }], { maxBytes: good.length + 100, maxPixels: 1e6 }, () => undefined);
    assert.deepEqual(checked.sha256, [sha256Hex(good), null, null, null, null, null]);
    assert.deepEqual(
      checked.quarantined.map((q) => [q.offerId, q.reason]),
      [
        ['cut', 'truncated'],
        ['page', 'unsupported-format'],
        ['gone', 'missing'],
        ['big', 'too-many-bytes'],
      ],
    );
    // Training reads by hash: a photo replaced since preprocessing is left out, not mixed in.
    objects.set(`${imagePrefix('d')}good.png`, objects.get(`${imagePrefix('d')}big.png`)!);
    const loaded = await loadOfferImages(memoryStore(objects), 'd', [{ key: 'good.png', sha256: checked.sha256[0]! }], 32, DEFAULT_IMAGE_LIMITS);
    assert.deepEqual([loaded.pixels, loaded.unavailable], [[null], 1]);
  });

  it('trains the photo model with the title models, fuses on validation, and serves base64 and S3-key photos with 400s naming the field', async () => {
    const simulation = { ...DEFAULT_OFFER_SIMULATION, products: 300, seed: 5, photoShare: 0.4, photoSize: 32, brokenPhotos: 0 };
    const { offers, files } = addSyntheticPhotos(simulateOffers(simulation), simulation);
    const photoBytes = new Map(files.map((f) => [f.name, f.body as Uint8Array]));
    const { categories, data, tokenizer } = preparedOffersOf(offers, (o) => (o.image ? { key: o.image, sha256: sha256Hex(photoBytes.get(o.image)!) } : null));
    const encoded = encodeOffers(data, tokenizer);
    const objects = new Map([...photoBytes].map(([name, bytes]) => [`${imagePrefix('unit')}${name}`, bytes]));
    const store = memoryStore(objects);
    const photos: PhotoLoader = async (rows, size) => (await loadOfferImages(store, 'unit', rows.map((i) => data.images[i]!), size, DEFAULT_IMAGE_LIMITS)).pixels;
    const hp = CatalogueHyperparameters.parse({ hiddenLayers: [16], matchDimension: 16, epochs: 4, image: { extractor: 'small-cnn', cnnChannels: [16, 32, 64], cnnInputSize: 32, epochs: 80, patience: 20, learningRate: 0.01, dropout: 0.2, weightDecay: 0 } });
    const trained = await trainCatalogueModel(encoded, tokenizer, { maxTitleChars: 300, imageLimits: { maxBytes: 20_000, maxPixels: 1e6 } }, hp, {}, () => undefined, photos);
    assert.ok(trained.config.image, 'a photo model was trained');
    assert.equal(trained.imageOutcome?.extractor, 'small-cnn');
    assert.ok(trained.config.image.fusionWeight >= 0 && trained.config.image.fusionWeight <= 1);
    assert.equal(trained.imageOutcome?.trainImages, photoRows(data, SPLIT.train).length);

    const config = JSON.parse(JSON.stringify(trained.config)) as typeof trained.config;
    const clone = () => Object.fromEntries(trained.weights.map(({ name, tensor }) => [name, tf.clone(tensor)]));
    const networks = networksOf(config, clone());
    const bundle: ModelBundle = { config: config as unknown as Record<string, unknown>, tensors: clone(), weightsSha256: 'x', metadata: {} };
    trained.dispose();
    const manifest = { lineage: { dataset: 'unit', servingArtifacts: {} } } as unknown as VersionManifest;
    const loaded = await loadCatalogueModel({ bundle, store, manifest, artifactKey: (name) => name });
    try {
      // The photo model alone recognises the test photos' categories (shape and hue) far above chance.
      const test = photoRows(data, SPLIT.test);
      const pixels = await photos(test, 32);
      const probabilities = networks.image!.probabilities(pixels.filter((p): p is Uint8Array => p !== null)).fine;
      const right = test.filter((row, k) => probabilities.subarray(k * categories.length, (k + 1) * categories.length).indexOf(Math.max(...probabilities.subarray(k * categories.length, (k + 1) * categories.length))) === data.categoryLabels[row]).length;
      assert.ok(right / test.length > 0.5, `photo top-1 ${right} of ${test.length}`);

      // Serving: an S3 key and base64 bytes give the same photo answer; a photo alone gives categories but no match.
      const row = test[0];
      const key = data.images[row]!.key;
      const base64 = Buffer.from(photoBytes.get(key)!).toString('base64');
      const [byKey, byBytes, dataUrl] = await photoProbabilities(loaded, [key, base64, `data:image/png;base64,${base64}`], (i) => `[${i}].image`);
      assert.deepEqual(Array.from(byKey!), Array.from(byBytes!));
      assert.deepEqual(Array.from(byKey!), Array.from(dataUrl!));
      const [photoOnly, both, titleOnly] = categorise(loaded, [undefined, data.titles[row], data.titles[row]], [byKey, byKey, undefined]);
      assert.equal(photoOnly.product, null);
      assert.equal(photoOnly.imageClasses?.length, 5);
      assert.equal(titleOnly.imageClasses, null);
      assert.deepEqual([both.categories.length, both.words > 0, photoOnly.words], [3, true, 0]);
      const weight = config.image!.fusionWeight;
      if (weight > 0 && weight < 1) assert.notEqual(both.confidence, titleOnly.confidence, 'the photo moved the title answer');

      // Unusable photos are 400s naming their field.
      const refusal = async (image: string) => {
        try {
          await photoProbabilities(loaded, [undefined, image], (i) => `[${i}].image`);
        } catch (error) {
          const e = error as Error & { statusCode?: number; field?: string };
          return [e.statusCode, e.field, e.message];
        }
        return 'accepted';
      };
      const [status, field, message] = (await refusal('nowhere/x.png')) as [number, string, string];
      assert.deepEqual([status, field], [400, '[1].image']);
      assert.match(message, /no image raw\/unit\/images\/nowhere\/x\.png/);
      assert.match(String(await refusal(Buffer.from(photoBytes.get(key)!.subarray(0, 200)).toString('base64'))), /truncated|corrupt/);
      assert.match(String(await refusal('not base64!')), /neither base64/);
      assert.match(String(await refusal(Buffer.alloc(30_000, 1).toString('base64'))), /too-many-bytes/);
    } finally {
      networks.dispose();
      loaded.image?.classifier.dispose();
    }
  });
});
