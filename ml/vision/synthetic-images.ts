/**
 * Small generated product photos for tests and the embedded default: class k is a shape
 * (disc, square or triangle: k mod 3) in its own hue (golden-angle steps by k / 3), drawn
 * at a random place, size and brightness on a noisy background. Learnable, but only from
 * the pixels: position, scale and lighting vary within a class.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { Rng } from '../random';

export const SYNTHETIC_SHAPES = ['disc', 'square', 'triangle'] as const;

/** The coarse class (the shape) of fine class k. */
export function syntheticShapeOf(classIndex: number): number {
  return classIndex % SYNTHETIC_SHAPES.length;
}

function hueToRgb(hue: number): [number, number, number] {
  const channel = (offset: number) => Math.round(255 * (0.5 + 0.5 * Math.cos(2 * Math.PI * (hue - offset))));
  return [channel(0), channel(1 / 3), channel(2 / 3)];
}

/** Row-major RGB pixels, size x size x 3, of one picture of class `classIndex`. */
export function syntheticImagePixels(classIndex: number, size: number, rng: Rng): Uint8Array {
  const pixels = new Uint8Array(size * size * 3);
  const hue = (Math.floor(classIndex / SYNTHETIC_SHAPES.length) * 0.381966) % 1;
  const light = 0.7 + 0.3 * rng();
  const colour = hueToRgb(hue).map((c) => c * light);
  const radius = size * (0.2 + 0.15 * rng());
  const cx = radius + (size - 2 * radius) * rng();
  const cy = radius + (size - 2 * radius) * rng();
  const background = 60 + 120 * rng();
  const shape = SYNTHETIC_SHAPES[syntheticShapeOf(classIndex)];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const inside = shape === 'disc' ? dx * dx + dy * dy <= radius * radius : shape === 'square' ? Math.abs(dx) <= radius * 0.85 && Math.abs(dy) <= radius * 0.85 : dy <= radius * 0.8 && dy >= -radius && Math.abs(dx) <= (dy + radius) * 0.6;
      for (let c = 0; c < 3; c++) {
        const value = inside ? colour[c] : background;
        pixels[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value + (rng() - 0.5) * 40)));
      }
    }
  }
  return pixels;
}

/** RGB pixels (size x size x 3) encoded as a JPEG or PNG file's bytes. */
export async function encodeImage(pixels: Uint8Array, size: number, format: 'jpeg' | 'png'): Promise<Uint8Array> {
  const image = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.length), { raw: { width: size, height: size, channels: 3 } });
  return new Uint8Array(await (format === 'jpeg' ? image.jpeg({ quality: 90 }) : image.png()).toBuffer());
}

/**
 * RGB pixels (size x size x 3) as PNG bytes, synchronously: the embedded default data is
 * built synchronously (ModelKind.synthetic()) and sharp only encodes asynchronously. A PNG
 * is a signature and three chunks (header, zlib-deflated scanlines, end), each with a
 * CRC-32; node:zlib provides both, so a dozen lines instead of a dependency.
 */
export function encodePngSync(pixels: Uint8Array, size: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, RGB, deflate, no filter method choice, no interlace
  // Each scanline starts with its filter type, 0 (none).
  const scanlines = Buffer.alloc(size * (size * 3 + 1));
  for (let y = 0; y < size; y++) scanlines.set(pixels.subarray(y * size * 3, (y + 1) * size * 3), y * (size * 3 + 1) + 1);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(scanlines)), chunk('IEND', Buffer.alloc(0))]));
}
