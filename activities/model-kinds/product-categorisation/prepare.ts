/**
 * preprocess for product categorisation: the offers up to the cut-off, each offer id once
 * (the newest listing wins), in their splits (protocol.ts), and one tokenizer fitted on the
 * training titles, shared by the category model, the matching encoder and serving. Artifacts:
 *
 *   offers     one row per offer with a category or a product: title, merchant, category and
 *              its index among the training categories (-1: none or unseen), product, split
 *   tokenizer  hashing parameters, vocabulary and idf (ml/text/tokenizer.ts)
 *   image-quarantine  offers whose photo is missing or unusable, with the reason (images.ts);
 *              the offers stay in `offers`, without their photo
 */
import { Field, Int32, Int8, Schema, Utf8, type Table } from 'apache-arrow';
import { readBatches, tableFromColumns } from '../../storage/arrow-io';
import { InputDataError } from '../../errors';
import { fitTokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { assignSplits, imageLimitsOf, SPLIT, type CatalogueOptions } from './protocol';
import { IMAGE_QUARANTINE_SCHEMA, inspectOfferImages } from './images';
import { readCorrections } from './corrections';
import { servingModelName } from '../../../schemas/lifecycle-input';
import type { KindRuntime } from '../contract';
import type { DatasetSnapshot, PreprocessResult } from '../../../schemas/steps';

export class NoOffersError extends InputDataError {
  constructor(dataset: string, detail: string) {
    super('NoOffersError', `dataset ${dataset}: ${detail} (upload files to raw/${dataset}/offers/ with columns offer_id,title,merchant_id,category,product_id, e.g. storeloop import <file> --kind product-categorisation --dataset ${dataset})`);
  }
}

export const PREPARED_OFFERS_SCHEMA = new Schema([
  new Field('offer_id', new Utf8(), false),
  new Field('title', new Utf8(), false),
  new Field('merchant_id', new Utf8(), false),
  new Field('category', new Utf8(), true),
  /** Index of `category` among the training split's categories; -1 when it has none or training never saw it. */
  new Field('category_label', new Int32(), false),
  new Field('product_id', new Utf8(), true),
  new Field('split', new Int8(), false),
  /** The photo's key (images.ts) and the SHA-256 of its bytes when preprocess read it; null: none, or quarantined. */
  new Field('image', new Utf8(), true),
  new Field('image_sha256', new Utf8(), true),
]);

interface CollectedOffer {
  offerId: string;
  title: string;
  merchantId: string;
  category: string | null;
  productId: string | null;
  image: string | null;
  time: number;
}

async function readOffers(rt: KindRuntime, snapshot: DatasetSnapshot, options: CatalogueOptions, cutoffMs: number) {
  const latest = new Map<string, CollectedOffer>();
  const counts = { rows: 0, afterCutoff: 0, tooLong: 0, relisted: 0, corrections: 0 };
  const partitions = snapshot.sources.offers?.partitions ?? [];
  for (const [index, partition] of partitions.entries()) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const [ids, titles, merchants, categories, products, images, times] = ['offer_id', 'title', 'merchant_id', 'category', 'product_id', 'image', 'timestamp'].map((c) => batch.getChild(c)!);
      for (let row = 0; row < batch.numRows; row++) {
        counts.rows++;
        const time = times.get(row) === null ? 0 : Number(times.get(row));
        if (time >= cutoffMs) {
          counts.afterCutoff++;
          continue;
        }
        const title = titles.get(row) as string;
        if ([...title].length > options.maxTitleChars) {
          counts.tooLong++;
          continue;
        }
        const offer: CollectedOffer = { offerId: ids.get(row) as string, title, merchantId: merchants.get(row) as string, category: categories.get(row) as string | null, productId: products.get(row) as string | null, image: images.get(row) as string | null, time };
        const before = latest.get(offer.offerId);
        if (before) counts.relisted++;
        // Partitions come oldest first: a later listing of the same offer (a corrected title or label) replaces it.
        if (!before || before.time <= time) latest.set(offer.offerId, offer);
      }
    }
    rt.heartbeat({ partitions: index + 1, of: partitions.length });
  }
  // Corrections posted against served answers are labelled offers of their own (corrections.ts).
  for (const c of await readCorrections(rt.store, servingModelName(rt.ctx.config), cutoffMs)) {
    if ([...c.title].length > options.maxTitleChars) continue;
    counts.corrections++;
    latest.set(c.offerId, { offerId: c.offerId, title: c.title, merchantId: c.merchantId, category: c.category, productId: c.productId, image: null, time: c.time });
  }
  return { offers: [...latest.values()].sort((a, b) => (a.offerId < b.offerId ? -1 : a.offerId > b.offerId ? 1 : 0)), counts };
}

export async function prepareOffers(rt: KindRuntime, snapshot: DatasetSnapshot, options: CatalogueOptions): Promise<Omit<PreprocessResult, 'cached' | 'kind'>> {
  const { dataset, dataCutoff } = rt.ctx.config;
  const { offers: all, counts } = await readOffers(rt, snapshot, options, dataCutoff ? Date.parse(dataCutoff) : Number.POSITIVE_INFINITY);
  const offers = all.filter((o) => o.category !== null || o.productId !== null);
  const splits = assignSplits(offers.map((o) => ({ offerId: o.offerId, merchantId: o.merchantId, category: o.category })), options);
  const inSplit = (split: number) => offers.filter((_, i) => splits[i] === split);
  const train = inSplit(SPLIT.train);
  const categories = [...new Set(train.flatMap((o) => (o.category === null ? [] : [o.category])))].sort();
  if (categories.length < 2) throw new NoOffersError(dataset, `the training split holds ${categories.length} categor${categories.length === 1 ? 'y' : 'ies'}; at least two are needed`);
  for (const [name, split] of Object.entries(SPLIT)) {
    if (!inSplit(split).some((o) => o.category !== null)) throw new NoOffersError(dataset, `the ${name} split holds no offer with a category (${offers.length} labelled offers in all)`);
  }
  const indexOf = new Map(categories.map((c, i) => [c, i]));
  const labels = Int32Array.from(offers, (o) => (o.category === null ? -1 : (indexOf.get(o.category) ?? -1)));
  const tokenizer: TokenizerSpec = fitTokenizer(train.map((o) => o.title), options.tokenizer);
  rt.heartbeat({ tokenizer: tokenizer.vocabulary.length });
  const images = await inspectOfferImages(rt.store, dataset, offers, imageLimitsOf(options), (done) => rt.heartbeat({ imagesChecked: done }));
  if (images.quarantined.length > 0) rt.log.warn({ quarantined: images.quarantined.length, first: images.quarantined.slice(0, 3) }, 'offer photos quarantined; their offers are kept without them');
  const table: Table = tableFromColumns(PREPARED_OFFERS_SCHEMA, {
    offer_id: offers.map((o) => o.offerId),
    title: offers.map((o) => o.title),
    merchant_id: offers.map((o) => o.merchantId),
    category: offers.map((o) => o.category),
    category_label: labels,
    product_id: offers.map((o) => o.productId),
    split: splits,
    image: offers.map((o, i) => (images.sha256[i] === null ? null : o.image)),
    image_sha256: images.sha256,
  });
  const trainProducts = new Set(train.flatMap((o) => (o.productId === null ? [] : [o.productId])));
  const test = inSplit(SPLIT.test);
  const stats = {
    offers: offers.length,
    categories: categories.length,
    products: new Set(offers.flatMap((o) => (o.productId === null ? [] : [o.productId]))).size,
    trainProducts: trainProducts.size,
    merchants: new Set(offers.map((o) => o.merchantId)).size,
    trainRows: train.length,
    validationRows: inSplit(SPLIT.validation).length,
    testRows: test.length,
    testKnownProductOffers: test.filter((o) => o.productId !== null && trainProducts.has(o.productId)).length,
    testNewProductOffers: test.filter((o) => o.productId !== null && !trainProducts.has(o.productId)).length,
    features: tokenizer.vocabulary.length,
    unlabelled: all.length - offers.length,
    relisted: counts.relisted,
    corrections: counts.corrections,
    tooLong: counts.tooLong,
    afterCutoff: counts.afterCutoff,
    unseenCategoryRows: offers.filter((o, i) => o.category !== null && labels[i] < 0).length,
    images: images.sha256.filter((h) => h !== null).length,
    imagesQuarantined: images.quarantined.length,
  };
  const quarantine = tableFromColumns(IMAGE_QUARANTINE_SCHEMA, {
    offer_id: images.quarantined.map((q) => q.offerId),
    image: images.quarantined.map((q) => q.image),
    reason: images.quarantined.map((q) => q.reason),
    message: images.quarantined.map((q) => q.message),
  });
  return {
    artifacts: { offers: await rt.putTable('offers', table), tokenizer: await rt.putJson('tokenizer', tokenizer), 'image-quarantine': await rt.putTable('image-quarantine', quarantine) },
    stats,
    rows: offers.length,
    detail: `${offers.length} labelled offers (${options.split} split), ${categories.length} categories, ${stats.products} products, ${stats.merchants} merchants; train ${stats.trainRows}, validation ${stats.validationRows}, test ${stats.testRows} (${stats.testKnownProductOffers} of known, ${stats.testNewProductOffers} of new products); ${stats.features} features${stats.images + stats.imagesQuarantined > 0 ? `; ${stats.images} photos (${stats.imagesQuarantined} quarantined)` : ''}`,
  };
}

/** The prepared offers as columns. */
export interface PreparedOffers {
  titles: string[];
  merchants: string[];
  products: (string | null)[];
  categoryLabels: Int32Array;
  splits: Int8Array;
  /** The training categories in label order. */
  categories: string[];
  /** Each offer's usable photo (its key and content hash), or null. */
  images: ({ key: string; sha256: string } | null)[];
}

export function preparedOffers(table: Table): PreparedOffers {
  const column = <T>(name: string) => table.getChild(name)!.toArray() as T;
  const strings = (name: string) => Array.from({ length: table.numRows }, (_, i) => table.getChild(name)!.get(i) as string | null);
  const categoryLabels = column<Int32Array>('category_label');
  const category = strings('category');
  const categories: string[] = [];
  categoryLabels.forEach((label, i) => {
    if (label >= 0) categories[label] ??= category[i]!;
  });
  // Tables prepared before photos were read have no image columns.
  const [keys, hashes] = table.getChild('image') ? [strings('image'), strings('image_sha256')] : [[], []];
  const images = Array.from({ length: table.numRows }, (_, i) => (keys[i] && hashes[i] ? { key: keys[i]!, sha256: hashes[i]! } : null));
  return { titles: strings('title') as string[], merchants: strings('merchant_id') as string[], products: strings('product_id'), categoryLabels, splits: column<Int8Array>('split'), categories, images };
}

/** Row indices of some splits, optionally only those with a category or a product. */
export function rowsOf(data: PreparedOffers, splits: readonly number[], need: 'category' | 'product'): number[] {
  const out: number[] = [];
  for (let i = 0; i < data.splits.length; i++) {
    if (!splits.includes(data.splits[i])) continue;
    if (need === 'category' ? data.categoryLabels[i] < 0 : data.products[i] === null) continue;
    out.push(i);
  }
  return out;
}
