/**
 * Row contract of the intent-routing kind: customer utterances with the intent an agent
 * gave them, or none (served traffic, no training label). One zod schema validates what
 * arrives (CSV, JSONL, Arrow), one Arrow schema says how validated rows are stored; errors
 * name the field, as the event contracts do. Empty texts, texts over the length limit and
 * text that did not decode (invalid UTF-8 arrives as U+FFFD) are refused, so collect
 * quarantines the row with its file, row number and field.
 */
import { Field, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { identifier, timestamp } from '../../../schemas/events';

/** The longest text the contract accepts; a kind option (maxTextChars) may set a lower limit for training and serving. */
export const MAX_TEXT_CHARS = 2000;
export const DEFAULT_MAX_TEXT_CHARS = 1000;

// Tabs and line breaks are ordinary in customer messages; other control characters and U+FFFD mean a broken producer or encoding.
const BROKEN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffd]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** A customer text: trimmed, not empty, at most `maxChars` characters (code points), valid Unicode. */
export function utteranceText(maxChars: number) {
  return z
    .string({ message: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .refine((s) => !BROKEN_TEXT.test(s), 'contains control characters or invalid UTF-8 (is the file UTF-8?)')
    .refine((s) => [...s].length <= maxChars, `must be at most ${maxChars} characters`);
}

/** Absent or empty: an unlabelled utterance. */
const optionalIntent = z
  .union([identifier, z.literal(''), z.null()])
  .optional()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

const optionalIdentifier = z
  .union([identifier, z.number().int().transform(String), z.literal(''), z.null()])
  .optional()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

/** A BCP 47-like tag ("en", "zh-Hans", "pt-BR"). */
const optionalLanguage = z
  .union([z.string().trim().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'must be a language tag such as en or zh-Hans'), z.literal(''), z.null()])
  .optional()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

const optionalTimestamp = z
  .union([timestamp, z.literal('').transform(() => null), z.null()])
  .optional()
  .transform((v) => v ?? null);

export const SPLITS = ['train', 'test'] as const;
/** A benchmark's published split; absent, preprocess draws one from a hash of the text. */
const optionalSplit = z
  .union([z.enum(SPLITS, { message: `must be one of ${SPLITS.join(', ')}` }), z.literal(''), z.null()])
  .optional()
  .transform((v) => (v === undefined || v === null || v === '' ? null : v));

export const UtteranceRow = z
  .object({
    text: utteranceText(MAX_TEXT_CHARS),
    intent: optionalIntent,
    conversation_id: optionalIdentifier,
    language: optionalLanguage,
    timestamp: optionalTimestamp,
    split: optionalSplit,
  })
  .strict();

export type Utterance = z.output<typeof UtteranceRow>;
export const UTTERANCE_COLUMNS = Object.keys(UtteranceRow.shape) as (keyof Utterance)[];
export const REQUIRED_UTTERANCE_COLUMNS = ['text'] as const;

export const UTTERANCE_SCHEMA = new Schema([
  new Field('text', new Utf8(), false),
  new Field('intent', new Utf8(), true),
  new Field('conversation_id', new Utf8(), true),
  new Field('language', new Utf8(), true),
  new Field('timestamp', new TimestampMillisecond(), true),
  new Field('split', new Utf8(), true),
]);
