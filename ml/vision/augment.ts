/**
 * Training-time augmentation of a batch of images [n, h, w, 3] (values 0..255): a random
 * resized crop (a square covering `minScale`..1 of the area, anywhere in the image), a
 * horizontal flip with probability 1/2, and colour jitter (brightness, contrast and a gain
 * per channel). The random draws come from the caller's seeded generator, so a run is
 * reproducible; the pixel work is TensorFlow's (crop-and-resize with a reversed box flips).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random';

export interface AugmentOptions {
  /** Smallest share of the image's area a crop keeps. */
  minScale: number;
  /** Brightness and contrast factors are drawn from 1 ± jitter, channel gains from 1 ± jitter / 2. */
  colourJitter: number;
}

export const DEFAULT_AUGMENT: AugmentOptions = { minScale: 0.5, colourJitter: 0.25 };

export function augmentBatch(images: tf.Tensor4D, outputSize: number, rng: Rng, options: AugmentOptions = DEFAULT_AUGMENT): tf.Tensor4D {
  const n = images.shape[0];
  const boxes = new Float32Array(n * 4);
  const brightness = new Float32Array(n);
  const contrast = new Float32Array(n);
  const gains = new Float32Array(n * 3);
  const between = (low: number, high: number) => low + (high - low) * rng();
  for (let i = 0; i < n; i++) {
    const side = Math.sqrt(between(options.minScale, 1));
    const top = between(0, 1 - side);
    const left = between(0, 1 - side);
    const flip = rng() < 0.5;
    boxes.set([top, flip ? left + side : left, top + side, flip ? left : left + side], i * 4);
    brightness[i] = between(1 - options.colourJitter, 1 + options.colourJitter);
    contrast[i] = between(1 - options.colourJitter, 1 + options.colourJitter);
    for (let c = 0; c < 3; c++) gains[i * 3 + c] = between(1 - options.colourJitter / 2, 1 + options.colourJitter / 2);
  }
  return tf.tidy(() => {
    const cropped = tf.image.cropAndResize(images, tf.tensor2d(boxes, [n, 4]), tf.range(0, n, 1, 'int32') as tf.Tensor1D, [outputSize, outputSize]);
    const mean = tf.mean(cropped, [1, 2, 3], true);
    const contrasted = tf.add(mean, tf.mul(tf.sub(cropped, mean), tf.tensor4d(contrast, [n, 1, 1, 1])));
    const coloured = tf.mul(contrasted, tf.mul(tf.tensor4d(brightness, [n, 1, 1, 1]), tf.tensor4d(gains, [n, 1, 1, 3])));
    return tf.clipByValue(coloured, 0, 255) as tf.Tensor4D;
  });
}
