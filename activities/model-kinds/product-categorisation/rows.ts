/**
 * Row contract of the product-categorisation kind: merchants' offers. An offer has an id,
 * a title and a merchant; the category a category manager filed it under, the known product
 * it is (`product_id`), its photo (an S3 key or path of a JPEG/PNG: the image stays in S3,
 * tables carry only its key), a description, a price and a listing time are optional.
 * Offers without a category or product are unlabelled traffic: kept, not trained on.
 * Empty titles, titles over the limit and broken text are refused, so collect quarantines
 * the row with its file, row number and field.
 */
import { Field, Float64, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { idOrInteger, MAX_PRICE, optionalNumberUpTo, timestamp } from '../../../schemas/events';
import { utteranceText } from '../intent-routing/rows';

/** The longest title the contract accepts; `options.maxTitleChars` may set a lower limit for training and serving. */
export const MAX_TITLE_CHARS = 500;
export const DEFAULT_MAX_TITLE_CHARS = 300;
export const MAX_DESCRIPTION_CHARS = 10_000;
/** An S3 key or path of an image; its bytes are never in a table. */
export const MAX_IMAGE_KEY_CHARS = 1024;

/** An offer title: trimmed, not empty, at most `maxChars` code points, valid Unicode (the same rules as customer texts). */
export const offerTitle = utteranceText;

/** Absent or empty: null. */
function optional<T extends z.ZodType>(schema: T) {
  return z
    .union([schema, z.literal(''), z.null()])
    .optional()
    .transform((v) => (v === undefined || v === null || v === '' ? null : (v as z.output<T>)));
}

const optionalId = optional(idOrInteger);

export const imageKey = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_IMAGE_KEY_CHARS, `must be at most ${MAX_IMAGE_KEY_CHARS} characters`)
  .refine((s) => !/[\u0000-\u001f\u007f\ufffd]/.test(s), 'contains a control character or invalid UTF-8')
  .refine((s) => !s.split('/').includes('..'), 'must not contain ".." segments');

export const OfferRow = z
  .object({
    offer_id: idOrInteger,
    title: offerTitle(MAX_TITLE_CHARS),
    merchant_id: idOrInteger,
    category: optionalId,
    product_id: optionalId,
    image: optional(imageKey),
    description: optional(utteranceText(MAX_DESCRIPTION_CHARS)),
    price: optionalNumberUpTo(MAX_PRICE),
    /** When the offer was listed; undated offers (a catalogue export) go to the epoch's partition. */
    timestamp: optional(timestamp),
  })
  .strict();

export type Offer = z.output<typeof OfferRow>;
export const REQUIRED_OFFER_COLUMNS = ['offer_id', 'title', 'merchant_id'] as const;

export const OFFER_SCHEMA = new Schema([
  new Field('offer_id', new Utf8(), false),
  new Field('title', new Utf8(), false),
  new Field('merchant_id', new Utf8(), false),
  new Field('category', new Utf8(), true),
  new Field('product_id', new Utf8(), true),
  new Field('image', new Utf8(), true),
  new Field('description', new Utf8(), true),
  new Field('price', new Float64(), true),
  new Field('timestamp', new TimestampMillisecond(), true),
]);
