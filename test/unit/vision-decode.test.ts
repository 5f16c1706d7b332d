import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeImage, ImageRejectedError, type ImageRejection } from '../../ml/vision/decode';
import { encodeImage, syntheticImagePixels } from '../../ml/vision/synthetic-images';
import { seededRng } from '../../ml/random';

async function rejection(promise: Promise<unknown>): Promise<ImageRejection> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ImageRejectedError, `expected ImageRejectedError, got ${String(error)}`);
    return error.reason;
  }
  assert.fail('the image was accepted');
}

/** A 64x32 image: left half red, right half blue. */
async function halves(format: 'jpeg' | 'png'): Promise<Uint8Array> {
  const pixels = new Uint8Array(64 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 64; x++) pixels.set(x < 32 ? [220, 20, 20] : [20, 20, 220], (y * 64 + x) * 3);
  const image = sharp(Buffer.from(pixels), { raw: { width: 64, height: 32, channels: 3 } });
  return new Uint8Array(await (format === 'jpeg' ? image.jpeg({ quality: 95 }) : image.png()).toBuffer());
}

describe('vision: image decoding', function () {
  for (const format of ['jpeg', 'png'] as const) {
    it(`decodes a ${format.toUpperCase()}, centre-cropped and resized to the input size`, async () => {
      const decoded = await decodeImage(await halves(format), 16);
      assert.equal(decoded.format, format);
      assert.deepEqual([decoded.width, decoded.height, decoded.size, decoded.pixels.length], [64, 32, 16, 16 * 16 * 3]);
      // The centre square of a red|blue image is red on the left, blue on the right.
      const at = (x: number, y: number) => Array.from(decoded.pixels.subarray((y * 16 + x) * 3, (y * 16 + x) * 3 + 3));
      const [leftR, , leftB] = at(2, 8);
      const [rightR, , rightB] = at(13, 8);
      assert.ok(leftR > 150 && leftB < 80, `left pixel ${at(2, 8)}`);
      assert.ok(rightB > 150 && rightR < 80, `right pixel ${at(13, 8)}`);
    });
  }

  it('flattens a PNG with alpha to RGB', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const decoded = await decodeImage(png, 8);
    assert.equal(decoded.pixels.length, 8 * 8 * 3);
    assert.ok(decoded.pixels.every((v) => v === 255), 'transparent pixels become white');
  });

  it('rejects empty, truncated, corrupt and non-image bytes with the reason', async () => {
    const pixels = syntheticImagePixels(0, 64, seededRng('decode'));
    const jpeg = await encodeImage(pixels, 64, 'jpeg');
    const png = await encodeImage(pixels, 64, 'png');
    assert.equal(await rejection(decodeImage(new Uint8Array(0), 16)), 'empty');
    for (const encoded of [jpeg, png]) assert.equal(await rejection(decodeImage(encoded.subarray(0, Math.floor(encoded.length * 0.6)), 16)), 'truncated');
    // Damaged data after the header, then a damaged header: both corrupt, neither truncated.
    const scramble = (from: number) => Uint8Array.from(jpeg, (v, i) => (i >= from && i < jpeg.length - 2 ? (v * 31 + i) & 0xff : v));
    assert.equal(await rejection(decodeImage(scramble(400), 16)), 'corrupt');
    assert.equal(await rejection(decodeImage(scramble(200), 16)), 'corrupt');
    assert.equal(await rejection(decodeImage(new TextEncoder().encode('not an image, just text'), 16)), 'unsupported-format');
    const gif = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).gif().toBuffer();
    assert.equal(await rejection(decodeImage(gif, 16)), 'unsupported-format');
  });

  it('rejects images over the byte and pixel limits before decoding them', async () => {
    const png = await encodeImage(syntheticImagePixels(1, 64, seededRng('limits')), 64, 'png');
    assert.equal(await rejection(decodeImage(png, 16, { maxBytes: png.length - 1, maxPixels: 1e6 })), 'too-many-bytes');
    assert.equal(await rejection(decodeImage(png, 16, { maxBytes: 1e7, maxPixels: 64 * 64 - 1 })), 'too-many-pixels');
    const accepted = await decodeImage(png, 16, { maxBytes: png.length, maxPixels: 64 * 64 });
    assert.equal(accepted.pixels.length, 16 * 16 * 3);
  });
});
