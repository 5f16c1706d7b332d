/** Simulated offers as preprocess hands them to training, shared by the catalogue unit tests. */
import { assignSplits, CatalogueOptions, SPLIT } from '../../activities/model-kinds/product-categorisation/protocol';
import { SYNTHETIC_CATEGORIES, type SyntheticOffer } from '../../activities/model-kinds/product-categorisation/synthetic';
import { fitTokenizer, HashingParams, Tokenizer } from '../../ml/text/tokenizer';
import type { PreparedOffers } from '../../activities/model-kinds/product-categorisation/prepare';

/** The labelled offers, split by the kind's protocol, with a tokenizer fitted on the training split. */
export function preparedOffersOf(offers: SyntheticOffer[], imageOf: (offer: SyntheticOffer) => PreparedOffers['images'][number] = () => null) {
  const labelled = offers.filter((o) => o.category !== null || o.product_id !== null);
  const splits = assignSplits(labelled.map((o) => ({ offerId: o.offer_id, merchantId: o.merchant_id, category: o.category })), CatalogueOptions.parse({}));
  const categories = [...SYNTHETIC_CATEGORIES].sort();
  const data: PreparedOffers = {
    titles: labelled.map((o) => o.title),
    merchants: labelled.map((o) => o.merchant_id),
    products: labelled.map((o) => o.product_id),
    categoryLabels: Int32Array.from(labelled, (o) => (o.category === null ? -1 : categories.indexOf(o.category))),
    splits,
    categories,
    images: labelled.map(imageOf),
  };
  const tokenizer = new Tokenizer(fitTokenizer(labelled.filter((_, i) => splits[i] === SPLIT.train).map((o) => o.title), HashingParams.parse({})));
  return { labelled, splits, categories, data, tokenizer };
}
