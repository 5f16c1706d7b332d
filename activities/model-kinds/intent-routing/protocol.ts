/**
 * The intent-routing kind's options and splits. Rows that carry a benchmark's split keep
 * it; the others are drawn by a seeded hash of their conversation (or, without one, their
 * normalised text), so every utterance of a conversation, and every copy of a text, lands
 * in one split. Validation is cut from the training rows the same way.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { HashingParams, normalise } from '../../../ml/text/tokenizer';
import { DEFAULT_MAX_TEXT_CHARS, MAX_TEXT_CHARS } from './rows';

export const IntentOptions = z
  .object({
    /** Share of rows without a split held out for the test. */
    testShare: z.number().min(0.05).max(0.5).default(0.2),
    /** Share of the training rows held out for early stopping, calibration and the routing threshold. */
    validationShare: z.number().min(0.05).max(0.5).default(0.1),
    /** Automatic answers must be right at least this often on validation; the routing threshold follows from it. */
    targetAutoAccuracy: z.number().gt(0).max(1).default(0.97),
    /** Longer texts are left out of training (counted) and refused by serving (400). */
    maxTextChars: z.number().int().min(1).max(MAX_TEXT_CHARS).default(DEFAULT_MAX_TEXT_CHARS),
    /** The label of out-of-scope utterances, if the data has them: they should go to a person. */
    oosLabel: z.string().min(1).optional(),
    tokenizer: HashingParams.default(() => HashingParams.parse({})),
  })
  .strict();
export type IntentOptions = z.output<typeof IntentOptions>;

export const SPLIT = { train: 0, validation: 1, test: 2 } as const;

/** A uniform draw in [0, 1) from a seed and a key, the same on every run of the same data. */
export function hashDraw(seed: string, key: string): number {
  return createHash('sha256').update(`${seed}:${key}`).digest().readUInt32BE(0) / 2 ** 32;
}

export function splitOf(row: { text: string; conversation_id: string | null; split: string | null }, options: IntentOptions): number {
  const key = row.conversation_id !== null ? `conversation:${row.conversation_id}` : `text:${normalise(row.text).trim()}`;
  const test = row.split !== null ? row.split === 'test' : hashDraw('test', key) < options.testShare;
  if (test) return SPLIT.test;
  return hashDraw('validation', key) < options.validationShare ? SPLIT.validation : SPLIT.train;
}
