/**
 * Row contracts of the demand-forecast kind. Sales are the store's purchase events (the
 * columns of the events the recommender reads, plus `quantity`), so an events export can be
 * uploaded as it is: rows of other event types are stored and left out when aggregating.
 * Series files are in the M4 layout: column V1 is the series id, V2.. its observations in
 * time order, blank after the series ends.
 */
import { Field, Float64, List, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { EVENT_TYPES, identifier, idOrInteger, MAX_PRICE, optionalNumberUpTo, quoted, timestamp } from '../../../schemas/events';
import type { RowSchema } from '../../collect/raw-files';

export const MAX_QUANTITY = 1_000_000;
/** Longest series a file may hold (M4's longest, daily, has 9,919 observations). */
export const MAX_OBSERVATIONS = 10_000;

const optionalText = z
  .string()
  .nullish()
  .transform((s) => (s === undefined || s === null || s.trim() === '' ? null : s.trim()))
  .pipe(identifier.nullable());

const blankAs = <T extends z.ZodType>(schema: T, fallback: z.output<T> | null) =>
  z.preprocess((v) => (v === undefined || v === null || (typeof v === 'string' && v.trim() === '') ? undefined : v), schema.optional()).transform((v) => (v === undefined ? fallback : v));

export const SaleRow = z
  .object({
    item_id: idOrInteger,
    timestamp,
    quantity: optionalNumberUpTo(MAX_QUANTITY).transform((q) => q ?? 1),
    price: optionalNumberUpTo(MAX_PRICE),
    category: optionalText,
    /** Absent means a purchase; other types are kept but not counted as sales. */
    event_type: blankAs(z.enum(EVENT_TYPES, { message: `must be one of ${EVENT_TYPES.join(', ')}` }), 'purchase'),
    user_id: blankAs(idOrInteger, null),
    session_id: optionalText,
  })
  .strict();
export type Sale = z.output<typeof SaleRow>;
export const REQUIRED_SALE_COLUMNS = ['item_id', 'timestamp'] as const;

export const SALE_SCHEMA = new Schema([
  new Field('item_id', new Utf8(), false),
  new Field('timestamp', new TimestampMillisecond(), false),
  new Field('quantity', new Float64(), false),
  new Field('price', new Float64(), true),
  new Field('category', new Utf8(), true),
  new Field('event_type', new Utf8(), false),
]);

/** One series of an M4-layout file. */
export interface SeriesRecord {
  series_id: string;
  values: number[];
}

/** The M4 layout's columns: V1 (the id) to V{MAX_OBSERVATIONS + 1}. */
export const SERIES_COLUMNS = Array.from({ length: MAX_OBSERVATIONS + 1 }, (_, i) => `V${i + 1}`);
/** An observation: any finite number (series files are not only sales). */
const observation = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const n = typeof value === 'string' ? Number(value.trim()) : value;
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `must be a number, got ${quoted(value)}` });
    return z.NEVER;
  }
  return n;
});

const SeriesRecordSchema = z.object({ V1: idOrInteger }).catchall(z.unknown()).transform((row, ctx): SeriesRecord => {
  const values: number[] = [];
  let ended = false;
  for (let i = 2; i <= MAX_OBSERVATIONS + 1; i++) {
    const raw = row[`V${i}`];
    if (raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '')) {
      ended = true;
      continue;
    }
    if (ended) {
      ctx.addIssue({ code: 'custom', path: [`V${i}`], message: `has a value after a blank V${i - 1}: observations must be contiguous` });
      return z.NEVER;
    }
    const parsed = observation.safeParse(raw);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', path: [`V${i}`], message: parsed.error.issues[0].message });
      return z.NEVER;
    }
    values.push(parsed.data);
  }
  if (values.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['V2'], message: 'a series needs at least one observation' });
    return z.NEVER;
  }
  return { series_id: row.V1 as string, values };
});

/** The raw-file reader's contract for a series file: its known columns, and the row check (errors name V<n>). */
export const SeriesRow: RowSchema<SeriesRecord> = {
  shape: Object.fromEntries(SERIES_COLUMNS.map((c) => [c, true])),
  safeParse: (row) => SeriesRecordSchema.safeParse(row),
};

export const SERIES_FILE_SCHEMA = new Schema([
  new Field('series_id', new Utf8(), false),
  new Field('values', new List(new Field('item', new Float64(), false)), false),
]);

