/**
 * The product-categorisation kind's options and splits, defined here and nowhere else.
 *
 *   random    stratified by category: within each category the offers are ordered by a
 *             seeded hash of their offer id and the first `testShare` of them are the test
 *             split; validation is cut from the rest the same way. Exactly stratified, and an
 *             offer keeps its split when more data arrives (its hash does not change).
 *   merchant  by merchant: merchants are ordered by a seeded hash of their id and taken
 *             until they hold `testShare` of the offers; those merchants' offers are the test
 *             split, unseen in training. Validation is cut the same way from the remaining
 *             merchants, so early stopping and the threshold also see unseen merchants.
 *
 * Unlabelled offers (no category) are a stratum of their own. Products are
 * never split on purpose: an offer of the test split whose product has no offer in training
 * is a new product (what matching must flag), the others are known products.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HashingParams } from '../../../ml/text/tokenizer';
import { DEFAULT_IMAGE_LIMITS } from '../../../ml/vision/decode';
import { DEFAULT_MAX_TITLE_CHARS, MAX_TITLE_CHARS } from './rows';

export const SPLIT_METHODS = ['random', 'merchant'] as const;

export const CatalogueOptions = z
  .object({
    split: z.enum(SPLIT_METHODS, { message: `must be one of ${SPLIT_METHODS.join(', ')}` }).default('random'),
    testShare: z.number().min(0.05).max(0.5).default(0.2),
    /** Share of the training data held out for early stopping, calibration and the new-product threshold. */
    validationShare: z.number().min(0.05).max(0.5).default(0.1),
    seed: z.string().min(1).max(64).default('catalogue'),
    /** Longer titles are left out of training (counted) and refused by serving (400). */
    maxTitleChars: z.number().int().min(1).max(MAX_TITLE_CHARS).default(DEFAULT_MAX_TITLE_CHARS),
    tokenizer: HashingParams.default(() => HashingParams.parse({})),
    /** Larger offer photos are quarantined by preprocess and refused by serving (400 naming `image`). */
    maxImageBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(DEFAULT_IMAGE_LIMITS.maxBytes),
    maxImagePixels: z.number().int().min(1024).max(200_000_000).default(DEFAULT_IMAGE_LIMITS.maxPixels),
  })
  .strict();
export type CatalogueOptions = z.output<typeof CatalogueOptions>;

export const imageLimitsOf = (options: Pick<CatalogueOptions, 'maxImageBytes' | 'maxImagePixels'>) => ({ maxBytes: options.maxImageBytes, maxPixels: options.maxImagePixels });

export const SPLIT = { train: 0, validation: 1, test: 2 } as const;

/** A uniform draw in [0, 1) from a seed and a key, the same on every run of the same data. */
export function hashDraw(seed: string, key: string): number {
  return createHash('sha256').update(`${seed}:${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

export interface SplitInput {
  offerId: string;
  merchantId: string;
  /** null: unlabelled. */
  category: string | null;
}

/** The first `share` of `members` in hash order (rounded), as a set. */
function firstShare<T>(members: T[], share: number, draw: (member: T) => number): Set<T> {
  const ordered = [...members].sort((a, b) => draw(a) - draw(b));
  return new Set(ordered.slice(0, Math.round(share * ordered.length)));
}

/** Merchants in hash order until they hold `share` of `offers`. */
function merchantsHolding(offers: SplitInput[], share: number, seed: string): Set<string> {
  const counts = new Map<string, number>();
  for (const o of offers) counts.set(o.merchantId, (counts.get(o.merchantId) ?? 0) + 1);
  const ordered = [...counts.keys()].sort((a, b) => hashDraw(seed, a) - hashDraw(seed, b));
  const picked = new Set<string>();
  let held = 0;
  for (const merchant of ordered) {
    if (held >= share * offers.length) break;
    picked.add(merchant);
    held += counts.get(merchant)!;
  }
  return picked;
}

/** The split of every offer, in input order. */
export function assignSplits(offers: SplitInput[], options: Pick<CatalogueOptions, 'split' | 'testShare' | 'validationShare' | 'seed'>): Int8Array {
  const out = new Int8Array(offers.length);
  const { seed } = options;
  if (options.split === 'merchant') {
    const test = merchantsHolding(offers, options.testShare, `${seed}:test`);
    const rest = offers.filter((o) => !test.has(o.merchantId));
    const validation = merchantsHolding(rest, options.validationShare, `${seed}:validation`);
    offers.forEach((o, i) => (out[i] = test.has(o.merchantId) ? SPLIT.test : validation.has(o.merchantId) ? SPLIT.validation : SPLIT.train));
    return out;
  }
  const byCategory = new Map<string | null, number[]>();
  offers.forEach((o, i) => {
    const members = byCategory.get(o.category);
    if (members) members.push(i);
    else byCategory.set(o.category, [i]);
  });
  for (const members of byCategory.values()) {
    const test = firstShare(members, options.testShare, (i) => hashDraw(`${seed}:test`, offers[i].offerId));
    const rest = members.filter((i) => !test.has(i));
    const validation = firstShare(rest, options.validationShare, (i) => hashDraw(`${seed}:validation`, offers[i].offerId));
    for (const i of members) out[i] = test.has(i) ? SPLIT.test : validation.has(i) ? SPLIT.validation : SPLIT.train;
  }
  return out;
}
