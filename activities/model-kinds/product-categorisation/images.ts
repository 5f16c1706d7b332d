/**
 * Offer photos for the product-categorisation kind. An offer's `image` is an object key
 * relative to its dataset's image folder, `raw/<dataset>/images/` (serving resolves a
 * request's key against the same folder of the version's dataset). The photos stay in S3:
 * preprocess reads each one once, checks that it decodes (ml/vision/decode.ts: JPEG or PNG,
 * within the byte and pixel limits, not truncated or corrupt) and records its key and
 * SHA-256 in the prepared table; a photo that fails is quarantined with its reason and the
 * offer is kept without it. Training and evaluation read the photos again by key, verified
 * against the recorded hash, so a photo replaced after preprocessing is never mixed in.
 */
import { Field, Schema, Utf8 } from 'apache-arrow';
import { IntegrityError, verifyContent, type ObjectStore } from '../../storage/object-store';
import { sha256Hex } from '../../../schemas/artifacts';
import { decodeImage, ImageRejectedError, type ImageLimits } from '../../../ml/vision/decode';

export const imagePrefix = (dataset: string) => `raw/${dataset}/images/`;

/** Photos fetched at once: S3 round trips overlap, decoding stays bounded. */
const FETCH_CONCURRENCY = 8;
/** Preprocess only checks that a photo decodes; this small a side keeps that cheap. */
const CHECK_SIZE = 16;

export type ImageProblem = ImageRejectedError['reason'] | 'missing';

export const IMAGE_QUARANTINE_SCHEMA = new Schema([
  new Field('offer_id', new Utf8(), false),
  new Field('image', new Utf8(), false),
  new Field('reason', new Utf8(), false),
  new Field('message', new Utf8(), false),
]);

export interface QuarantinedImage {
  offerId: string;
  image: string;
  reason: ImageProblem;
  message: string;
}

/** Runs `work` over `items` with at most `limit` in flight, results in input order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The bytes of an offer photo, or undefined when there is no such object. */
export async function fetchImage(store: ObjectStore, dataset: string, key: string, expectedSha256?: string): Promise<Uint8Array | undefined> {
  const found = await store.getWithEtag(`${imagePrefix(dataset)}${key}`);
  if (!found) return undefined;
  return verifyContent(`${imagePrefix(dataset)}${key}`, found.bytes, expectedSha256);
}

/**
 * Checks the photos of `offers` (null: none): the SHA-256 of each usable one, null for the
 * others, and the quarantined ones with their reasons.
 */
export async function inspectOfferImages(store: ObjectStore, dataset: string, offers: readonly { offerId: string; image: string | null }[], limits: ImageLimits, progress: (done: number) => void): Promise<{ sha256: (string | null)[]; quarantined: QuarantinedImage[] }> {
  const quarantined: QuarantinedImage[] = [];
  let done = 0;
  const sha256 = await mapLimited(offers, FETCH_CONCURRENCY, async ({ offerId, image }) => {
    if (image === null) return null;
    const bytes = await fetchImage(store, dataset, image);
    try {
      if (!bytes) {
        quarantined.push({ offerId, image, reason: 'missing', message: `no object ${imagePrefix(dataset)}${image}` });
        return null;
      }
      await decodeImage(bytes, CHECK_SIZE, limits);
      return sha256Hex(bytes);
    } catch (error) {
      if (!(error instanceof ImageRejectedError)) throw error;
      quarantined.push({ offerId, image, reason: error.reason, message: error.message });
      return null;
    } finally {
      if (++done % 100 === 0) progress(done);
    }
  });
  // Completion order varies with the network: the quarantine table is in offer order, like the offers.
  const order = new Map(offers.map((o, i) => [o.offerId, i]));
  quarantined.sort((a, b) => order.get(a.offerId)! - order.get(b.offerId)!);
  return { sha256, quarantined };
}

/**
 * The photos of prepared offers decoded at `size` x `size` RGB, each verified against its
 * recorded hash. One that is gone or changed since preprocessing, or no longer decodes, is
 * left out (null), and counted.
 */
export async function loadOfferImages(store: ObjectStore, dataset: string, images: readonly { key: string; sha256: string }[], size: number, limits: ImageLimits): Promise<{ pixels: (Uint8Array | null)[]; unavailable: number }> {
  let unavailable = 0;
  const pixels = await mapLimited(images, FETCH_CONCURRENCY, async ({ key, sha256 }) => {
    try {
      const bytes = await fetchImage(store, dataset, key, sha256);
      if (bytes) return (await decodeImage(bytes, size, limits)).pixels;
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof ImageRejectedError)) throw error;
    }
    unavailable++;
    return null;
  });
  return { pixels, unavailable };
}
