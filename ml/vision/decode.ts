/**
 * Image bytes to RGB pixels at a model's input size, or a named rejection.
 *
 * Decoder: sharp (libvips, prebuilt binaries published on npm as @img/sharp-<platform>, so
 * `npm ci` installs it on a machine that reaches only the registry). Measured on 300
 * Grocery Store JPEGs (348x348) on this 2-core machine, decode + resize to 224x224:
 * sharp 3.3 ms an image, tfjs-node's tf.node.decodeImage + resizeBilinear 57 ms, jpeg-js
 * (pure JavaScript) + resizeBilinear 59 ms. It also reads the header before decoding, so
 * the pixel limit is checked without allocating the image; it rejects truncated and corrupt
 * files (failOn 'warning': libjpeg only warns about corrupt entropy data and returns grey
 * blocks; none of Grocery Store's 5,421 photos warns; tfjs-node logs and fails with an
 * opaque status, jpeg-js may return a half-grey image);
 * applies EXIF orientation, and does not depend on the optional native TensorFlow install.
 */
import sharp, { type Metadata } from 'sharp';

export type ImageRejection = 'empty' | 'too-many-bytes' | 'unsupported-format' | 'too-many-pixels' | 'truncated' | 'corrupt';

/** Why an image cannot be used, as a reason code the caller can quarantine by. */
export class ImageRejectedError extends Error {
  override readonly name = 'ImageRejectedError';

  constructor(
    readonly reason: ImageRejection,
    detail: string,
  ) {
    super(`image rejected (${reason}): ${detail}`);
  }
}

export interface ImageLimits {
  /** Largest encoded image accepted, in bytes. */
  maxBytes: number;
  /** Largest decoded image accepted, width x height. */
  maxPixels: number;
}

/** 10 MB and 40 megapixels: any phone photo; a decompression bomb is refused before decoding. */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = { maxBytes: 10 * 1024 * 1024, maxPixels: 40_000_000 };

const ACCEPTED_FORMATS = new Set(['jpeg', 'png']);

export interface DecodedImage {
  /** Row-major RGB, `size` x `size` x 3. */
  pixels: Uint8Array;
  size: number;
  /** The source image's format and dimensions. */
  format: string;
  width: number;
  height: number;
}

/**
 * Decodes a JPEG or PNG, centre-crops it to a square (no distortion of the product's shape)
 * and resizes it to `size` x `size` RGB (alpha flattened onto white, as a shop photo's
 * background). Throws ImageRejectedError for anything else.
 */
export async function decodeImage(bytes: Uint8Array, size: number, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<DecodedImage> {
  if (bytes.length === 0) throw new ImageRejectedError('empty', 'no bytes');
  if (bytes.length > limits.maxBytes) throw new ImageRejectedError('too-many-bytes', `${bytes.length} bytes, the limit is ${limits.maxBytes}`);
  let metadata: Metadata;
  try {
    metadata = await sharp(bytes).metadata();
  } catch (error) {
    // A known format with a broken header is corrupt; anything sharp cannot identify is unsupported.
    const message = (error as Error).message;
    throw new ImageRejectedError(/corrupt header/i.test(message) ? 'corrupt' : 'unsupported-format', message);
  }
  if (!metadata.format || !ACCEPTED_FORMATS.has(metadata.format)) throw new ImageRejectedError('unsupported-format', `${metadata.format ?? 'unknown'}, expected JPEG or PNG`);
  const { width = 0, height = 0 } = metadata;
  if (width * height > limits.maxPixels) throw new ImageRejectedError('too-many-pixels', `${width}x${height}, the limit is ${limits.maxPixels} pixels`);
  try {
    const pixels = await sharp(bytes, { failOn: 'warning', limitInputPixels: limits.maxPixels })
      .rotate()
      .flatten({ background: '#ffffff' })
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer();
    if (pixels.length !== size * size * 3) throw new Error(`decoded ${pixels.length} bytes, expected ${size * size * 3}`);
    return { pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), size, format: metadata.format, width, height };
  } catch (error) {
    const message = (error as Error).message;
    throw new ImageRejectedError(isTruncated(bytes, metadata.format, message) ? 'truncated' : 'corrupt', message);
  }
}

const PNG_END = new TextEncoder().encode('IEND');

/**
 * Whether a failed decode is a cut-off file rather than damaged data: libjpeg says so
 * ("premature end of JPEG image"; "premature end of data segment" is damage); libpng only
 * reports a read error, so a PNG counts as truncated when its IEND chunk is missing.
 */
function isTruncated(bytes: Uint8Array, format: string, message: string): boolean {
  if (format === 'png') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).lastIndexOf(PNG_END) < 0;
  return /premature end of JPEG image/i.test(message);
}
