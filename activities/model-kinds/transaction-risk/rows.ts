/**
 * Row contracts of the transaction-risk model kind: card transactions and the fraud labels
 * that arrive later (chargebacks, investigator verdicts). As in schemas/events.ts, one zod
 * schema validates what arrives (CSV, JSONL, Arrow) and one Arrow schema says how validated
 * rows are stored; errors name the field, in the same words as the event contracts.
 */
import { Field, Float64, Int8, Schema, TimestampMillisecond, Utf8, type Table } from 'apache-arrow';
import { z } from 'zod';
import { idOrInteger, numberUpTo, quoted, timestamp } from '../../../schemas/events';
import { tableFromColumns } from '../../storage/arrow-io';

export const MAX_TX_AMOUNT = 10_000_000;

// `YYYY-MM-DD HH:MM[:SS[.fff]]` or the same with a `T`, without a zone: JavaScript would read
// it as local time; card processors' exports (and the handbook's data) mean UTC.
const ZONELESS_DATE_TIME = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** The events' `timestamp` (ISO-8601, epoch s or ms → epoch ms), reading zone-less date-times as UTC. */
export const utcTimestamp = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  return ZONELESS_DATE_TIME.test(text) ? `${text.replace(' ', 'T')}Z` : value;
}, timestamp);

const amount = numberUpTo(MAX_TX_AMOUNT);

const FRAUD_FLAGS: Record<string, 0 | 1> = { '0': 0, '1': 1, false: 0, true: 1 };

/** 0/1, "0"/"1", true/false; empty or absent is an unlabelled transaction (null). */
const optionalFraudFlag = z
  .union([z.number(), z.string(), z.boolean()])
  .nullish()
  .transform((value, ctx): 0 | 1 | null => {
    if (value === null || value === undefined || (typeof value === 'string' && value.trim() === '')) return null;
    const flag = FRAUD_FLAGS[String(value).trim().toLowerCase()];
    if (flag === undefined) {
      ctx.addIssue({ code: 'custom', message: `must be 0 or 1, got ${quoted(value)}` });
      return z.NEVER;
    }
    return flag;
  });

export const TransactionRow = z
  .object({
    transaction_id: idOrInteger,
    tx_datetime: utcTimestamp,
    customer_id: idOrInteger,
    terminal_id: idOrInteger,
    tx_amount: amount,
    tx_fraud: optionalFraudFlag,
  })
  .strict();

export type Transaction = z.output<typeof TransactionRow>;
export const TRANSACTION_COLUMNS = Object.keys(TransactionRow.shape) as (keyof Transaction)[];
export const REQUIRED_TRANSACTION_COLUMNS = ['transaction_id', 'tx_datetime', 'customer_id', 'terminal_id', 'tx_amount'] as const;

/** Arrow layout of validated transactions. tx_fraud is null where no label came with the row. */
export const TRANSACTION_SCHEMA = new Schema([
  new Field('transaction_id', new Utf8(), false),
  new Field('tx_datetime', new TimestampMillisecond(), false),
  new Field('customer_id', new Utf8(), false),
  new Field('terminal_id', new Utf8(), false),
  new Field('tx_amount', new Float64(), false),
  new Field('tx_fraud', new Int8(), true),
]);

export function transactionsTable(rows: readonly Transaction[]): Table {
  return tableFromColumns(
    TRANSACTION_SCHEMA,
    Object.fromEntries(TRANSACTION_COLUMNS.map((column) => [column, rows.map((row) => row[column])])),
  );
}

export const FRAUD_LABELS = ['fraud', 'genuine'] as const;
export type FraudLabelValue = (typeof FRAUD_LABELS)[number];

export const FraudLabelRow = z
  .object({
    transaction_id: idOrInteger,
    label: z.enum(FRAUD_LABELS, { message: `must be one of ${FRAUD_LABELS.join(', ')}` }),
    reported_at: utcTimestamp,
  })
  .strict();

export type FraudLabel = z.output<typeof FraudLabelRow>;
export const LABEL_COLUMNS = Object.keys(FraudLabelRow.shape) as (keyof FraudLabel)[];
export const REQUIRED_LABEL_COLUMNS = ['transaction_id', 'label', 'reported_at'] as const;

export const LABEL_SCHEMA = new Schema([
  new Field('transaction_id', new Utf8(), false),
  new Field('label', new Utf8(), false),
  new Field('reported_at', new TimestampMillisecond(), false),
]);

export function labelsTable(rows: readonly FraudLabel[]): Table {
  return tableFromColumns(LABEL_SCHEMA, Object.fromEntries(LABEL_COLUMNS.map((column) => [column, rows.map((row) => row[column])])));
}
