/**
 * The product-categorisation kind's serving handler. A loaded version is its tokenizer, the
 * category network and the offer encoder in plain JavaScript (ml/text/intent-scorer.ts:
 * no tensor dispatch per request), and the catalogue index deploy published with it.
 *
 *   POST /catalogue/categorise  {title?, image?, merchant_id?}, or an array of up to 100
 *                               -> top-3 categories with probabilities, the matched known
 *                                  product with its similarity or new_product: true;
 *                               ?explain=true adds explanation: the title words by their share
 *                                  of the title model's logit of the answered category
 *                                  (integrated gradients; empty for a photo-only offer)
 *   POST /feedback              {type: category_confirmed | category_corrected |
 *                               match_confirmed | match_corrected, request_id, item?,
 *                               category?, product_id?, new_product?}, or an array of up to 100
 *
 * `image` is base64 bytes (optionally a data: URL) or the key of a JPEG/PNG in the version's
 * dataset's image folder (images.ts); a key holds a '.', which base64 never does. A photo
 * over the version's byte or pixel limit, one that does not decode, or a key with no object
 * is a 400 naming `image` (`[3].image` in a batch). A version trained without photos answers
 * a titled offer from its title (`image_used: false`) and refuses a photo-only one.
 */
import { Field, FixedSizeList, Float32, Int32, makeData, makeVector, Schema, Utf8, type Table } from 'apache-arrow';
import { z } from 'zod';
import { oneOrMany } from '../../../schemas/serving';
import { identifier, idOrInteger } from '../../../schemas/events';
import { bagOf, IntentScorer } from '../../../ml/text/intent-scorer';
import { ProductIndex } from '../../../ml/catalogue/product-index';
import { Tokenizer } from '../../../ml/text/tokenizer';
import { explainText } from '../../../ml/text/explain-text';
import { readTable, tableFromColumns } from '../../storage/arrow-io';
import { artifactOf } from '../../kind-runtime';
import { imageKey, MAX_TITLE_CHARS, offerTitle } from './rows';
import type { ObjectStore } from '../../storage/object-store';
import { preparedOffers } from './prepare';
import { encodeOffers, imageClassifierOf, splitWeights, type CatalogueModelConfig } from './model';
import { fetchImage, imagePrefix } from './images';
import { fuseRow } from '../../../ml/catalogue/fusion';
import { decodeImage, DEFAULT_IMAGE_LIMITS, ImageRejectedError } from '../../../ml/vision/decode';
import { topClasses, TOP_CLASSES, type ImageClassifier } from '../../../ml/vision/image-classifier';
import { SCORING_ROUTE, type KindRuntime, type ModelUnderTest, type ServingHandler, type VersionToLoad } from '../contract';
import type { ArtifactRef } from '../../../schemas/artifacts';
import type { PreprocessResult } from '../../../schemas/steps';

export const MAX_OFFERS_PER_REQUEST = 100;
const TOP_CATEGORIES = 3;
/** A 10 MiB photo in base64; a version's own limit (`options.maxImageBytes`) may be lower. */
export const MAX_IMAGE_FIELD_CHARS = 14_000_000;
/** The route's body limit (Fastify's default is 1 MiB): one photo at the field limit and then some; a larger body is a 413. */
export const MAX_CATEGORISE_BODY_BYTES = 16 * 1024 * 1024;
export const CATALOGUE_INDEX = 'catalogue-index';

function indexSchema(dimension: number): Schema {
  return new Schema([
    new Field('product_id', new Utf8(), false),
    /** The most frequent category of the product's offers. */
    new Field('category', new Utf8(), true),
    /** A title of one of its offers (the first by offer order), to show what was matched. */
    new Field('title', new Utf8(), false),
    new Field('offers', new Int32(), false),
    new Field('embedding', new FixedSizeList(dimension, new Field('value', new Float32(), false)), false),
  ]);
}

/**
 * The catalogue index of a version: every product named by a labelled offer of the run (all
 * splits: serving should know every product the store lists), its centroid under the
 * version's encoder. Evaluation builds its own from the training split only.
 */
export async function buildCatalogueIndex(rt: KindRuntime, prepared: PreprocessResult, model: ModelUnderTest): Promise<Record<string, ArtifactRef>> {
  const config = model.bundle.config as unknown as CatalogueModelConfig;
  const encoder = encoderWeights(config, plainWeights(model.bundle.tensors));
  if (!encoder || !config.matching) return {};
  const data = encodeOffers(preparedOffers(await rt.readTable(artifactOf(prepared, 'offers'))), new Tokenizer(config.tokenizer));
  const rows = Array.from(data.products.keys()).filter((i) => data.products[i] !== null);
  const ids = [...new Set(rows.map((i) => data.products[i]!))].sort();
  const indexOf = new Map(ids.map((id, i) => [id, i]));
  const productOfRow = Int32Array.from(rows, (i) => indexOf.get(data.products[i]!)!);
  const { dimension } = config.matching.encoder;
  // Embedded as serving embeds (plain JavaScript): deploy runs where no native backend may be loaded, and the index must match serving to the bit.
  const embeddings = new Float32Array(rows.length * dimension);
  rows.forEach((row, r) => embeddings.set(embedTitle(encoder, data.encoded[row]), r * dimension));
  const index = ProductIndex.fromOffers(embeddings, productOfRow, ids.length, dimension);
  const titles: string[] = new Array(ids.length);
  const offers = new Int32Array(ids.length);
  const categoryCounts = ids.map(() => new Map<string, number>());
  rows.forEach((row, r) => {
    const p = productOfRow[r];
    titles[p] ??= data.titles[row];
    offers[p]++;
    const label = data.categoryLabels[row];
    if (label >= 0) categoryCounts[p].set(data.categories[label], (categoryCounts[p].get(data.categories[label]) ?? 0) + 1);
  });
  const categories = categoryCounts.map((counts) => [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? null);
  const schema = indexSchema(dimension);
  const embeddingType = schema.fields[4].type as FixedSizeList<Float32>;
  const embedding = makeVector(makeData({ type: embeddingType, length: ids.length, nullCount: 0, child: makeData({ type: new Float32(), length: index.vectors.length, data: index.vectors }) }));
  const table = tableFromColumns(schema, { product_id: ids, category: categories, title: titles, offers, embedding });
  rt.log.info({ products: ids.length, dimension }, 'catalogue index built');
  return { [CATALOGUE_INDEX]: await rt.putTable(CATALOGUE_INDEX, table) };
}

/** A bundle's tensors as plain arrays; the tensors are disposed. */
function plainWeights(tensors: Record<string, { dataSync(): unknown; dispose(): void }>): Record<string, Float32Array> {
  const arrays = Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
  for (const tensor of Object.values(tensors)) tensor.dispose();
  return arrays;
}

/** The offer encoder's weights, checked against its config; null without matching. */
function encoderWeights(config: CatalogueModelConfig, arrays: Record<string, Float32Array>): { kernel: Float32Array; bias: Float32Array } | null {
  const { encoder } = splitWeights(arrays);
  if (!config.matching) return null;
  const { kernel, bias } = { kernel: encoder['bag/kernel'], bias: encoder['bag/bias'] };
  const { dimension, features } = config.matching.encoder;
  if (!kernel || !bias || kernel.length !== features * dimension || bias.length !== dimension) throw new Error(`the offer encoder's weights are not [${features}, ${dimension}]`);
  return { kernel, bias };
}

interface IndexedProduct {
  id: string;
  category: string | null;
  title: string;
}

function readIndex(table: Table, dimension: number): { index: ProductIndex; products: IndexedProduct[] } {
  const vectors = new Float32Array(table.numRows * dimension);
  let at = 0;
  for (const data of table.getChild('embedding')!.data) {
    const values = (data.children[0].values as Float32Array).subarray(data.offset * dimension + data.children[0].offset, (data.offset + data.length) * dimension + data.children[0].offset);
    vectors.set(values, at);
    at += values.length;
  }
  const column = (name: string) => table.getChild(name)!;
  const products = Array.from({ length: table.numRows }, (_, i) => ({ id: column('product_id').get(i) as string, category: column('category').get(i) as string | null, title: column('title').get(i) as string }));
  return { index: new ProductIndex(vectors, dimension, new Uint8Array(table.numRows).fill(1)), products };
}

export interface LoadedCatalogueModel {
  config: CatalogueModelConfig;
  tokenizer: Tokenizer;
  /** Both networks in plain JavaScript: they hold no tensors. */
  category: IntentScorer;
  matching: { kernel: Float32Array; bias: Float32Array; threshold: number; index: ProductIndex; products: IndexedProduct[] } | null;
  /** The photo model (tfjs tensors: disposed with the version) and its fusion weight. */
  image: { classifier: ImageClassifier; fusionWeight: number } | null;
  /** Where request image keys are read: the version's dataset's image folder, in its store. */
  dataset: string;
  store: ObjectStore;
}

export async function loadCatalogueModel(version: Pick<VersionToLoad, 'bundle' | 'store' | 'manifest' | 'artifactKey'>): Promise<LoadedCatalogueModel> {
  const config = version.bundle.config as unknown as CatalogueModelConfig;
  // The photo model stays in tfjs (convolutions); it takes its tensors before they are freed below.
  const classifier = imageClassifierOf(config, version.bundle.tensors);
  const image = classifier && config.image ? { classifier, fusionWeight: config.image.fusionWeight } : null;
  const arrays = plainWeights(version.bundle.tensors);
  const encoder = encoderWeights(config, arrays);
  const category = IntentScorer.fromWeights(config.category, splitWeights(arrays).category);
  let matching: LoadedCatalogueModel['matching'] = null;
  if (encoder && config.matching && CATALOGUE_INDEX in version.manifest.lineage.servingArtifacts) {
    const { index, products } = readIndex(await readTable(version.store, version.artifactKey(CATALOGUE_INDEX)), config.matching.encoder.dimension);
    matching = { ...encoder, threshold: config.matching.threshold, index, products };
  }
  return { config, tokenizer: new Tokenizer(config.tokenizer), category, matching, image, dataset: version.manifest.lineage.dataset, store: version.store };
}

export interface Categorised {
  category: string;
  confidence: number;
  categories: { category: string; probability: number }[];
  /** The nearest known product; null without a catalogue index. */
  product: (IndexedProduct & { similarity: number }) | null;
  /** True below the version's threshold; null without matching. */
  newProduct: boolean | null;
  /** The photo's own top categories; null without a photo. */
  imageClasses: { category: string; probability: number }[] | null;
  words: number;
  unknownWords: number;
}

/** The unit embedding of an encoded title, as OfferEncoder.embed computes it. */
export function embedTitle(matching: { kernel: Float32Array; bias: Float32Array }, text: Parameters<typeof bagOf>[0]): Float64Array {
  const h = bagOf(text, matching.kernel, matching.bias);
  const norm = Math.hypot(...h) + 1e-12;
  for (let d = 0; d < h.length; d++) h[d] /= norm;
  return h;
}

/** The top `count` of one row of class probabilities. */
function topOf(row: ArrayLike<number>, classes: readonly string[], count: number): { category: string; probability: number }[] {
  return topClasses(Float32Array.from(row), classes, count).map(({ label, probability }) => ({ category: label, probability }));
}

/**
 * Offers with a title, a photo's category probabilities (photoProbabilities), or both. The
 * title gives the categories and the match; a photo alone gives the categories; both give
 * their fusion.
 */
export function categorise(loaded: LoadedCatalogueModel, titles: readonly (string | undefined)[], photos: readonly (Float32Array | undefined)[] = []): Categorised[] {
  const classes = loaded.config.category.intents;
  const titled = titles.flatMap((title, i) => (title === undefined ? [] : [i]));
  const encoded = loaded.tokenizer.encodeAll(titled.map((i) => titles[i]!));
  const probabilities = loaded.category.predict(encoded);
  const titledAt = new Map(titled.map((i, k) => [i, k]));
  return titles.map((_, i) => {
    const k = titledAt.get(i);
    const text = k === undefined ? undefined : encoded[k];
    const fromTitle = k === undefined ? undefined : probabilities.subarray(k * classes.length, (k + 1) * classes.length);
    const photo = photos[i];
    if (!fromTitle && !photo) throw new Error(`offer ${i} has neither a title nor a photo`);
    const row = fromTitle && photo && loaded.image ? fuseRow(fromTitle, photo, loaded.image.fusionWeight) : (fromTitle ?? photo)!;
    const top = topOf(row, classes, TOP_CATEGORIES);
    let product: Categorised['product'] = null;
    let newProduct: boolean | null = null;
    if (loaded.matching && text) {
      const match = loaded.matching.index.nearest(embedTitle(loaded.matching, text));
      if (match.product >= 0) {
        product = { ...loaded.matching.products[match.product], similarity: match.similarity };
        newProduct = match.similarity < loaded.matching.threshold;
      }
    }
    return { category: top[0].category, confidence: top[0].probability, categories: top, product, newProduct, imageClasses: photo ? topOf(photo, classes, TOP_CLASSES) : null, words: text?.words ?? 0, unknownWords: text?.unknownWords ?? 0 };
  });
}

/** A 400 naming the request field, as the host answers a schema failure. */
class ImageFieldError extends Error {
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const DATA_URL = /^data:image\/(?:jpeg|jpg|png);base64,/i;

/** A request's `image` as bytes: an object key (it has a '.', base64 never does) read from the dataset's image folder, else base64. */
async function imageBytes(loaded: LoadedCatalogueModel, value: string, field: string): Promise<Uint8Array> {
  if (!DATA_URL.test(value) && value.includes('.')) {
    const key = imageKey.safeParse(value);
    if (!key.success) throw new ImageFieldError(field, `an image key ${key.error.issues[0].message}`);
    const bytes = await fetchImage(loaded.store, loaded.dataset, key.data);
    if (!bytes) throw new ImageFieldError(field, `no image ${imagePrefix(loaded.dataset)}${key.data}`);
    return bytes;
  }
  const base64 = value.replace(DATA_URL, '').replace(/\s+/g, '');
  if (!BASE64.test(base64)) throw new ImageFieldError(field, 'is neither base64 bytes nor the key of a .jpg, .jpeg or .png image');
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

/** Category probabilities of the offers' photos (undefined: no photo), all scored in one call; an unusable photo is a 400 naming its field. */
export async function photoProbabilities(loaded: LoadedCatalogueModel, images: readonly (string | undefined)[], fieldOf: (item: number) => string): Promise<(Float32Array | undefined)[]> {
  const photo = loaded.image;
  const wanted = images.flatMap((image, i) => (image === undefined ? [] : [i]));
  if (!photo || wanted.length === 0) return [];
  const limits = loaded.config.imageLimits ?? DEFAULT_IMAGE_LIMITS;
  const pixels = await Promise.all(
    wanted.map(async (i) => {
      try {
        return (await decodeImage(await imageBytes(loaded, images[i]!, fieldOf(i)), photo.classifier.config.inputSize, limits)).pixels;
      } catch (error) {
        if (error instanceof ImageRejectedError) throw new ImageFieldError(fieldOf(i), `${error.reason}: ${error.message}`);
        throw error;
      }
    }),
  );
  const classes = photo.classifier.config.fineClasses.length;
  const probabilities = photo.classifier.probabilities(pixels).fine;
  const out: (Float32Array | undefined)[] = new Array(images.length);
  wanted.forEach((i, k) => (out[i] = probabilities.slice(k * classes, (k + 1) * classes)));
  return out;
}

function categoriseRequest(maxChars: number) {
  return z
    .object({
      title: offerTitle(maxChars).optional(),
      /** Base64 bytes or an S3 key of a JPEG/PNG. */
      image: z.string().trim().min(1, 'must not be empty').max(MAX_IMAGE_FIELD_CHARS, `must be at most ${MAX_IMAGE_FIELD_CHARS} characters`).optional(),
      merchant_id: idOrInteger.optional(),
    })
    .strict()
    .superRefine((offer, ctx) => {
      if (offer.title === undefined && offer.image === undefined) ctx.addIssue({ code: 'custom', path: ['title'], message: 'is required (a title, or an image)' });
    });
}
type CategoriseRequest = z.output<ReturnType<typeof categoriseRequest>>;

const offerParsers = new Map<number, (body: unknown) => z.ZodSafeParseResult<CategoriseRequest[]>>();

/** An array is parsed as an array (errors name `[3].title`), an object as a batch of one; one parser per title limit. */
export function parseOffers(body: unknown, maxChars: number): z.ZodSafeParseResult<CategoriseRequest[]> {
  let parse = offerParsers.get(maxChars);
  if (!parse) offerParsers.set(maxChars, (parse = oneOrMany(categoriseRequest(maxChars), MAX_OFFERS_PER_REQUEST, 'offer')));
  return parse(body);
}

export const OUTCOME_TYPES = ['category_confirmed', 'category_corrected', 'match_confirmed', 'match_corrected'] as const;

export const OutcomeRequest = z
  .object({
    type: z.enum(OUTCOME_TYPES, { message: `must be one of ${OUTCOME_TYPES.join(', ')}` }),
    request_id: identifier,
    /** Which offer of a batch request (0 for a single offer). */
    item: z.number().int().min(0).max(MAX_OFFERS_PER_REQUEST - 1).default(0),
    /** The right category: required for a category correction. */
    category: identifier.optional(),
    /** The right known product (a match correction), or new_product: true when it is none of them. */
    product_id: idOrInteger.optional(),
    new_product: z.boolean().optional(),
  })
  .strict()
  .refine((o) => o.type !== 'category_corrected' || o.category !== undefined, { message: 'a category correction must name the category', path: ['category'] })
  .refine((o) => o.type !== 'match_corrected' || o.product_id !== undefined || o.new_product === true, { message: 'a match correction must name the product_id, or say new_product: true', path: ['product_id'] })
  .refine((o) => !(o.product_id !== undefined && o.new_product === true), { message: 'a known product_id and new_product: true contradict each other', path: ['new_product'] });
const parseOutcomes = oneOrMany(OutcomeRequest, MAX_OFFERS_PER_REQUEST, 'outcome');

export const catalogueServing: ServingHandler<LoadedCatalogueModel> = {
  explanation: { method: 'integrated-gradients', attributes: "title words -> the title model's logit of the answered category (from the empty title); photos are not attributed" },
  load: (version) => loadCatalogueModel(version),
  // The title networks and the index are plain arrays; only the photo model holds tensors.
  dispose: (loaded) => loaded.image?.classifier.dispose(),
  describe: (loaded) => ({ categories: loaded.config.category.intents.length, features: loaded.tokenizer.features, products: loaded.matching?.products.length ?? 0, newProductThreshold: loaded.matching?.threshold ?? null, images: loaded.image ? { extractor: loaded.image.classifier.config.extractor, fusionWeight: loaded.image.fusionWeight, maxBytes: loaded.config.imageLimits?.maxBytes ?? DEFAULT_IMAGE_LIMITS.maxBytes } : false }),
  sampleRequest: () => ({ method: 'POST', url: '/catalogue/categorise', body: { title: 'Samsung Galaxy S9 64GB midnight black unlocked smartphone', merchant_id: 'sample-merchant' } }),
  routes(app, host) {
    app.post('/catalogue/categorise', { ...SCORING_ROUTE, bodyLimit: MAX_CATEGORISE_BODY_BYTES }, async (request, reply) => {
      // The contract's limit first (cheap), the model's own limit once the version is known.
      host.check(parseOffers(request.body, MAX_TITLE_CHARS));
      return host.serve(request, reply, async (loaded) => {
        const items = host.check(parseOffers(request.body, loaded.config.maxTitleChars));
        const fieldOf = (item: number) => (Array.isArray(request.body) ? `[${item}].image` : 'image');
        const unanswerable = items.findIndex((i) => i.title === undefined && !loaded.image);
        if (unanswerable >= 0) throw new ImageFieldError(fieldOf(unanswerable), 'this version has no photo model (it was trained without enough photos); send the offer title');
        const photos = await photoProbabilities(loaded, items.map((i) => i.image), fieldOf);
        const results = categorise(loaded, items.map((i) => i.title), photos);
        const now = Date.now();
        const logged = results.map((r, item) => ({
          type: 'prediction',
          request_id: request.id,
          item,
          merchant_id: items[item].merchant_id ?? null,
          title: items[item].title ?? null,
          predicted_category: r.category,
          confidence: r.confidence,
          matched_product: r.product?.id ?? null,
          similarity: r.product?.similarity ?? null,
          new_product: r.newProduct,
          words: r.words,
          unknown_words: r.unknownWords,
          category: null,
          product_id: null,
          timestamp: now,
        }));
        const explain = host.explains(request);
        const classes = loaded.config.category.intents;
        const answers = results.map((r, i) => ({
          category: r.category,
          confidence: r.confidence,
          categories: r.categories,
          product: r.product && !r.newProduct ? { product_id: r.product.id, title: r.product.title, category: r.product.category, similarity: r.product.similarity } : null,
          new_product: r.newProduct,
          ...(r.product && r.newProduct ? { nearest_product: { product_id: r.product.id, similarity: r.product.similarity } } : {}),
          ...(items[i].image !== undefined ? { image_used: r.imageClasses !== null, ...(r.imageClasses ? { image_classes: r.imageClasses } : {}) } : {}),
          ...(items[i].merchant_id !== undefined ? { merchant_id: items[i].merchant_id } : {}),
          ...(explain ? { explanation: items[i].title === undefined ? [] : explainText(loaded.tokenizer, loaded.category, items[i].title!, classes.indexOf(r.category)) } : {}),
        }));
        const threshold = loaded.matching?.threshold ?? null;
        return { body: Array.isArray(request.body) ? { results: answers, new_product_threshold: threshold } : { ...answers[0], new_product_threshold: threshold }, logged };
      });
    });

    app.post('/feedback', async (request, reply) => {
      const outcomes = host.check(parseOutcomes(request.body));
      const now = Date.now();
      const rows = outcomes.map((o) => ({
        type: o.type,
        model_version: host.creditedVersion(o.request_id),
        request_id: o.request_id,
        item: o.item,
        category: o.category ?? null,
        product_id: o.product_id ?? null,
        new_product: o.new_product ?? null,
        timestamp: now,
      }));
      await host.logFeedback(rows);
      return reply.status(202).send({ request_id: request.id, accepted: rows.length });
    });
  },
};
