/**
 * The raw data contracts: interaction events and the item catalogue.
 * One zod schema per external row validates what arrives (CSV, JSONL, Arrow); one
 * Arrow schema says how it is stored. Errors name the file, the row and the field.
 */
import {
  Field,
  Float64,
  Schema,
  TimestampMillisecond,
  Utf8,
} from 'apache-arrow';
import { z } from 'zod';

export const EVENT_TYPES = ['view', 'click', 'add_to_cart', 'purchase', 'review'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Earliest event time we accept: before this a timestamp is a unit or parsing mistake. */
export const MIN_EVENT_TIME_MS = Date.UTC(1995, 0, 1);
/** Events may be stamped slightly in the future by skewed clocks, not by more than a day. */
export const MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000;
export const MAX_ID_LENGTH = 256;
export const MAX_PRICE = 1_000_000;

/** Control characters (a line break, a tab) and U+FFFD (what invalid UTF-8 decodes to) mean a broken producer. */
const UNPRINTABLE = /[\u0000-\u001f\u007f\ufffd]/;
const UNPRINTABLE_MESSAGE = 'contains a control character (such as a line break) or invalid UTF-8';

/** Characters of a raw value that an error message may quote. */
export const QUOTED_CHARS = 32;

/**
 * A raw value as error text quotes it: JSON-quoted, cut to QUOTED_CHARS characters with its
 * size in bytes when longer, so an error (a log line, a Temporal failure) never carries a whole field.
 */
export function quoted(value: unknown, maxChars = QUOTED_CHARS): string {
  const text = String(value);
  if (text.length <= maxChars) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, maxChars))}... (${new TextEncoder().encode(text).length} bytes)`;
}

/** Names from raw data (a header's columns) as error text lists them: each cut like quoted(), at most `max` of them. */
export function listedValues(values: readonly string[], max = 20): string {
  const shown = values.slice(0, max).map((v) => (v.length > QUOTED_CHARS ? quoted(v) : v));
  return `${shown.join(', ')}${values.length > max ? ` and ${values.length - max} more` : ''}`;
}

/** A user, item or session id: trimmed, printable, at most MAX_ID_LENGTH characters. */
export const identifier = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`)
  .refine((s) => !UNPRINTABLE.test(s), UNPRINTABLE_MESSAGE);

/** An id given as a string, or as an integer (CSV readers and JSON producers do both). */
export const idOrInteger = z.union([identifier, z.number().int().transform(String)]);

const optionalText = z
  .string()
  .nullish()
  .transform((s) => (s === undefined || s === null || s.trim() === '' ? null : s.trim()))
  .refine((s) => s === null || s.length <= MAX_ID_LENGTH, { message: `must be at most ${MAX_ID_LENGTH} characters` })
  .refine((s) => s === null || !UNPRINTABLE.test(s), { message: UNPRINTABLE_MESSAGE });

/** Accepts epoch milliseconds, epoch seconds (10 digits or fewer) or an ISO-8601 string. */
export const timestamp = z.union([z.number(), z.string()]).transform((value, ctx) => {
  let ms: number;
  if (typeof value === 'number' || /^-?\d+(\.\d+)?$/.test(value.trim())) {
    const n = Number(value);
    ms = Math.abs(n) < 1e11 ? n * 1000 : n;
  } else {
    ms = Date.parse(value);
  }
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: `is not a timestamp: ${quoted(value)}` });
    return z.NEVER;
  }
  if (ms < MIN_EVENT_TIME_MS || ms > Date.now() + MAX_CLOCK_SKEW_MS) {
    ctx.addIssue({ code: 'custom', message: `is out of range: ${new Date(ms).toISOString?.() ?? ms}` });
    return z.NEVER;
  }
  return Math.round(ms);
});

/** A number from 0 to `max`, given as a number or numeric text; the error names the range. */
export function numberUpTo(max: number) {
  return z.union([z.number(), z.string()]).transform((value, ctx) => {
    const n = typeof value === 'string' && value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(n) || n < 0 || n > max) {
      ctx.addIssue({ code: 'custom', message: `must be a number between 0 and ${max}, got ${quoted(value)}` });
      return z.NEVER;
    }
    return n;
  });
}

/** numberUpTo, where empty or absent is null. */
export function optionalNumberUpTo(max: number) {
  return z.preprocess((value) => (value === undefined || (typeof value === 'string' && value.trim() === '') ? null : value), numberUpTo(max).nullable());
}

const optionalPrice = optionalNumberUpTo(MAX_PRICE);

export const RawEventRow = z
  .object({
    user_id: idOrInteger,
    item_id: idOrInteger,
    event_type: z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }),
    timestamp,
    session_id: optionalText,
    price: optionalPrice,
    category: optionalText,
  })
  .strict();

export type RawEvent = z.output<typeof RawEventRow>;
export const RAW_EVENT_COLUMNS = Object.keys(RawEventRow.shape) as (keyof RawEvent)[];
export const REQUIRED_EVENT_COLUMNS = ['user_id', 'item_id', 'event_type', 'timestamp'] as const;

/** Arrow layout of validated events in the date-partitioned dataset. */
export const EVENT_SCHEMA = new Schema([
  new Field('user_id', new Utf8(), false),
  new Field('item_id', new Utf8(), false),
  new Field('event_type', new Utf8(), false),
  new Field('timestamp', new TimestampMillisecond(), false),
  new Field('session_id', new Utf8(), true),
  new Field('price', new Float64(), true),
  new Field('category', new Utf8(), true),
]);

export const CatalogueRow = z
  .object({
    item_id: idOrInteger,
    title: optionalText,
    category: optionalText,
    price: optionalPrice,
  })
  .strict();
export type CatalogueItem = z.output<typeof CatalogueRow>;

export const CATALOGUE_SCHEMA = new Schema([
  new Field('item_id', new Utf8(), false),
  new Field('title', new Utf8(), true),
  new Field('category', new Utf8(), true),
  new Field('price', new Float64(), true),
]);

/** One row that failed validation, kept with its reason so nothing is dropped silently. */
export interface RowProblem {
  file: string;
  /** 1-based data row number (the header of a CSV file is not counted). */
  row: number;
  field: string;
  message: string;
  raw: string;
}

/** Why a union (a string or an integer id, a number or numeric text) refused a value: what it would have taken. */
function unionMessage(issue: z.core.$ZodIssueInvalidUnion): string {
  const expected = [...new Set(issue.errors.flat().flatMap((branch) => (branch.code === 'invalid_type' ? [branch.expected] : [])))];
  return expected.length > 0 ? `must be a ${expected.join(' or a ')}` : issue.message;
}

/**
 * One problem per rejected row, naming every bad field of it: `field` lists them and
 * `message` says what is wrong with each.
 */
export function rowProblem(file: string, row: number, error: z.ZodError, raw: string): RowProblem {
  const problems = error.issues.map((issue) => ({
    field: issue.code === 'unrecognized_keys' ? issue.keys.join(',') : issue.path.map(String).join('.') || '(row)',
    message: issue.code === 'unrecognized_keys' ? 'unexpected column' : issue.code === 'invalid_union' ? unionMessage(issue) : issue.message,
  }));
  const field = [...new Set(problems.map((p) => p.field))].join(',');
  const message = problems.length === 1 ? problems[0].message : problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  return { file, row, field, message, raw: raw.slice(0, 500) };
}

export function describeProblem(p: RowProblem): string {
  return `${p.file} row ${p.row} field ${quoted(p.field, 100)}: ${p.message}`;
}
