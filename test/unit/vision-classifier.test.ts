import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../ml/backend';
import { seededRng } from '../../ml/random';
import { augmentBatch } from '../../ml/vision/augment';
import { decodeImage, ImageRejectedError } from '../../ml/vision/decode';
import { backboneInstalled, EfficientNetLite0 } from '../../ml/vision/efficientnet-lite';
import { ImageClassifier, ImageHyperparameters, pixelBatch, topKAccuracy, trainImageClassifier, type LabelledImages } from '../../ml/vision/image-classifier';
import { encodeImage, syntheticImagePixels, syntheticShapeOf } from '../../ml/vision/synthetic-images';
import { datasetOrSkip } from '../datasets';

const FINE = ['red disc', 'red square', 'red triangle', 'green disc', 'green square', 'green triangle'];
const COARSE = ['disc', 'square', 'triangle'];

function syntheticSet(count: number, size: number, seed: string): LabelledImages {
  const rng = seededRng(seed);
  const fine = Int32Array.from({ length: count }, (_, i) => i % FINE.length);
  return { images: Array.from(fine, (k) => syntheticImagePixels(k, size, rng)), size, fine, coarse: Int32Array.from(fine, syntheticShapeOf) };
}

function accuracy(classifier: ImageClassifier, data: LabelledImages): { fine: number; coarse: number } {
  const scores = classifier.scaledLogits(data.images);
  return { fine: topKAccuracy(scores.fine, data.fine, FINE.length, 1), coarse: topKAccuracy(scores.coarse, data.coarse, COARSE.length, 1) };
}

describe('vision: image classifier', function () {
  const size = 32;
  const hp = ImageHyperparameters.parse({ extractor: 'small-cnn', cnnChannels: [8, 16, 32], cnnInputSize: size, epochs: 25, patience: 25, batchSize: 32, learningRate: 0.005, dropout: 0 });
  let trained: ImageClassifier;
  const test = syntheticSet(120, size, 'vision-test');

  before(async function () {
    await selectBackend();
    const result = await trainImageClassifier({ hyperparameters: hp, fineClasses: FINE, coarseClasses: COARSE, train: syntheticSet(360, size, 'vision-train'), validation: syntheticSet(60, size, 'vision-validation') });
    trained = result.classifier;
    assert.ok(result.bestEpoch >= 1 && result.history.length >= result.bestEpoch);
  });

  after(() => trained?.dispose());

  it('has strict hyperparameters with defaults', () => {
    const defaults = ImageHyperparameters.parse({});
    assert.equal(defaults.extractor, 'efficientnet-lite0');
    assert.throws(() => ImageHyperparameters.parse({ extractor: 'resnet50' }));
    assert.throws(() => ImageHyperparameters.parse({ learningrate: 0.1 }));
  });

  it('learns the generated classes from pixels: far above chance on held-out pictures', () => {
    const { fine, coarse } = accuracy(trained, test);
    // Chance is 1/6 fine and 1/3 coarse.
    assert.ok(fine > 0.6, `fine accuracy ${fine}`);
    assert.ok(coarse > 0.7, `coarse accuracy ${coarse}`);
  });

  it('predicts the top five fine classes (and every coarse class) of one image, most probable first', async () => {
    const bytes = await encodeImage(syntheticImagePixels(4, 48, seededRng('one')), 48, 'jpeg');
    const prediction = await trained.predict(bytes);
    assert.equal(prediction.fine.length, 5);
    assert.equal(prediction.coarse.length, COARSE.length);
    for (const ranked of [prediction.fine, prediction.coarse]) {
      assert.equal(new Set(ranked.map((c) => c.label)).size, ranked.length);
      for (let i = 1; i < ranked.length; i++) assert.ok(ranked[i - 1].probability >= ranked[i].probability);
      assert.ok(ranked.every((c) => c.probability >= 0 && c.probability <= 1));
    }
    assert.ok(Math.abs(prediction.coarse.reduce((s, c) => s + c.probability, 0) - 1) < 1e-5, 'all coarse classes listed: they sum to 1');
    assert.ok(prediction.fine.reduce((s, c) => s + c.probability, 0) <= 1 + 1e-5);
  });

  it('rejects an undecodable image with a named reason', async () => {
    await assert.rejects(trained.predict(new TextEncoder().encode('plain text, not a picture')), (error: unknown) => error instanceof ImageRejectedError && error.reason === 'unsupported-format');
  });

  it('gives identical probabilities after a serialise and load round trip', async () => {
    const { data, specs } = await tf.io.encodeWeights(trained.namedWeights());
    const config = JSON.parse(JSON.stringify(trained.config));
    const decoded = tf.io.decodeWeights(data, specs);
    const loaded = ImageClassifier.fromWeights(config, decoded);
    tf.dispose(Object.values(decoded));
    try {
      const before = trained.probabilities(test.images.slice(0, 20));
      const after = loaded.probabilities(test.images.slice(0, 20));
      assert.deepEqual(Array.from(after.fine), Array.from(before.fine));
      assert.deepEqual(Array.from(after.coarse), Array.from(before.coarse));
    } finally {
      loaded.dispose();
    }
  });

  it('refuses weights of another shape, naming the tensor', () => {
    const tensors = Object.fromEntries(trained.namedWeights().map(({ name, tensor }) => [name, tensor]));
    assert.throws(() => ImageClassifier.fromWeights({ ...trained.config, cnnChannels: [8, 16, 64], featureSize: 64 }, tensors), /conv2\/kernel|fine\/kernel/);
  });

  it('augments reproducibly within the pixel range; with no crop or jitter it is the image or its mirror', () => {
    const images = pixelBatch(test.images.slice(0, 4), size);
    const a = augmentBatch(images, 24, seededRng('augment'));
    const b = augmentBatch(images, 24, seededRng('augment'));
    assert.deepEqual(a.shape, [4, 24, 24, 3]);
    assert.deepEqual(Array.from(a.dataSync()), Array.from(b.dataSync()));
    assert.ok(a.min().dataSync()[0] >= 0 && a.max().dataSync()[0] <= 255);
    const plain = augmentBatch(images, size, seededRng('flip'), { minScale: 1, colourJitter: 0 });
    const mirrored = tf.reverse(images, 2);
    for (let i = 0; i < 4; i++) {
      const slice = (t: tf.Tensor4D) => tf.slice(t, [i, 0, 0, 0], [1, -1, -1, -1]);
      const same = tf.max(tf.abs(tf.sub(slice(plain), slice(images)))).dataSync()[0];
      const flipped = tf.max(tf.abs(tf.sub(slice(plain), slice(mirrored)))).dataSync()[0];
      assert.ok(Math.min(same, flipped) < 1e-3, `image ${i}: differs from both the image (${same}) and its mirror (${flipped})`);
    }
    tf.dispose([images, a, b, plain, mirrored]);
  });
});

describe('vision: EfficientNet-Lite0 backbone', function () {
  let backbone: EfficientNetLite0;

  before(async function () {
    // Installed by `npm run vision:install`; the weights are never fetched at run time.
    if (!backboneInstalled()) this.skip();
    // 4.6M weights at 224x224: seconds on native TensorFlow, minutes on the JavaScript fallback.
    const { name } = await selectBackend();
    if (name !== 'tensorflow' && name !== 'tensorflow-gpu') this.skip();
    backbone = EfficientNetLite0.load();
  });

  after(() => backbone?.dispose());

  it('still names ImageNet classes right: Grocery Store bananas are class 954 (banana)', async function () {
    const trainList = datasetOrSkip(this, 'grocery-store', 'dataset', 'train.txt');
    const grocery = path.dirname(trainList);
    const bananas = readFileSync(trainList, 'utf8').split('\n').filter((l) => l.includes('/Banana/')).slice(0, 4);
    const images = await Promise.all(bananas.map(async (l) => (await decodeImage(readFileSync(path.join(grocery, l.split(',')[0].trim())), backbone.inputSize)).pixels));
    const top = tf.tidy(() => tf.argMax(backbone.imagenetLogits(backbone.features(pixelBatch(images, backbone.inputSize))), 1).dataSync());
    assert.deepEqual(Array.from(top), [954, 954, 954, 954]);
  });

  it('trains a head on frozen features that beats chance, and reloads only with the same backbone', async () => {
    const hp = ImageHyperparameters.parse({ augmentedViews: 2, epochs: 15, patience: 15, learningRate: 0.01, batchSize: 16 });
    const data = (count: number, seed: string) => {
      const small = syntheticSet(count, 32, seed);
      // Nearest-neighbour upscale to the backbone's 224: the pictures stay the same.
      const images = small.images.map((pixels) => tf.tidy(() => tf.image.resizeNearestNeighbor(tf.tensor3d(pixels, [32, 32, 3], 'int32'), [224, 224]).dataSync() as unknown as Int32Array)).map((v) => Uint8Array.from(v));
      return { ...small, images, size: 224 };
    };
    const result = await trainImageClassifier({ hyperparameters: hp, fineClasses: FINE, coarseClasses: COARSE, train: data(48, 'head-train'), validation: data(18, 'head-validation'), backbone });
    try {
      const heldOut = data(24, 'head-test');
      const { fine } = accuracy(result.classifier, heldOut);
      assert.ok(fine > 0.45, `fine accuracy ${fine} (chance 1/6)`);
      assert.equal(result.classifier.config.backboneSha256, backbone.sha256);
      const tensors = Object.fromEntries(result.classifier.namedWeights().map(({ name, tensor }) => [name, tensor]));
      assert.deepEqual(Object.keys(tensors).sort(), ['coarse/bias', 'coarse/kernel', 'fine/bias', 'fine/kernel'], 'the backbone is not part of the trained weights');
      assert.throws(() => ImageClassifier.fromWeights(result.classifier.config, tensors), /backbone/);
      const reloaded = ImageClassifier.load(JSON.parse(JSON.stringify(result.classifier.config)), tensors);
      assert.deepEqual(Array.from(reloaded.probabilities(heldOut.images.slice(0, 4)).fine), Array.from(result.classifier.probabilities(heldOut.images.slice(0, 4)).fine));
      reloaded.dispose();
      assert.throws(() => ImageClassifier.fromWeights({ ...result.classifier.config, backboneSha256: 'other' }, tensors, backbone), /trained on backbone weights other/);
    } finally {
      result.classifier.dispose();
    }
  });
});
