/**
 * preprocess for transaction risk: every collected transaction and label up to the cut-off,
 * the point-in-time features of each transaction (features.ts), its label as known now, and
 * the protocol's splits. Artifacts:
 *
 *   features      one row per transaction of the training and test windows: ids, day, card, split, label, the features
 *   online-state  the transactions (with their labels) recent enough to be in a feature window at the end of the data:
 *                 serving replays them to start its online feature state where training left off
 */
import { Field, Float32, Float64, Int32, Int8, Schema, TimestampMillisecond, Utf8, type Table } from 'apache-arrow';
import { createHash } from 'node:crypto';
import { readBatches, tableFromColumns } from '../../storage/arrow-io';
import { InputDataError } from '../../errors';
import { computeBatchFeatures, DictionaryEncoder, featureNames, labelsFromTxFraud, type FeatureOptions, type LabelColumns } from './features';
import { assignSplits, dayOf, isoDay, RiskOptions, SPLIT, windowsFor, DAY_MS } from './protocol';
import type { KindRuntime } from '../contract';
import type { DatasetSnapshot, PreprocessResult } from '../../../schemas/steps';

export class NoTransactionsError extends InputDataError {
  constructor(dataset: string, detail: string) {
    super('NoTransactionsError', `dataset ${dataset}: ${detail} (upload files to raw/${dataset}/transactions/, e.g. storeloop import <file> --kind transaction-risk --dataset ${dataset})`);
  }
}

export const featureOptionsOf = (options: RiskOptions): FeatureOptions => ({ windowsDays: [1, 7, 30], labelDelayDays: options.labelDelayDays });

export function featuresSchema(names: string[]): Schema {
  return new Schema([
    new Field('transaction_id', new Utf8(), false),
    new Field('day', new Int32(), false),
    new Field('card', new Int32(), false),
    new Field('split', new Int8(), false),
    new Field('label', new Int8(), false),
    ...names.map((name) => new Field(name, new Float32(), false)),
  ]);
}

export const ONLINE_STATE_SCHEMA = new Schema([
  new Field('transaction_id', new Utf8(), false),
  new Field('tx_datetime', new TimestampMillisecond(), false),
  new Field('customer_id', new Utf8(), false),
  new Field('terminal_id', new Utf8(), false),
  new Field('tx_amount', new Float64(), false),
  new Field('fraud', new Int8(), true),
  new Field('reported_at', new TimestampMillisecond(), true),
]);

interface Collected {
  ids: string[];
  customers: string[];
  terminals: string[];
  timeMs: number[];
  amount: number[];
  txFraud: (number | null)[];
  duplicates: number;
  afterCutoff: number;
}

async function readTransactions(rt: KindRuntime, snapshot: DatasetSnapshot, cutoffMs: number): Promise<Collected> {
  const out: Collected = { ids: [], customers: [], terminals: [], timeMs: [], amount: [], txFraud: [], duplicates: 0, afterCutoff: 0 };
  const seen = new Set<string>();
  const partitions = snapshot.sources.transactions?.partitions ?? [];
  for (const [index, partition] of partitions.entries()) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const [ids, times, customers, terminals, amounts, frauds] = ['transaction_id', 'tx_datetime', 'customer_id', 'terminal_id', 'tx_amount', 'tx_fraud'].map((c) => batch.getChild(c)!);
      for (let row = 0; row < batch.numRows; row++) {
        const id = ids.get(row) as string;
        const time = Number(times.get(row));
        if (time >= cutoffMs) {
          out.afterCutoff++;
          continue;
        }
        // A transaction exported twice (an overlapping export) counts once.
        if (seen.has(id)) {
          out.duplicates++;
          continue;
        }
        seen.add(id);
        out.ids.push(id);
        out.timeMs.push(time);
        out.customers.push(customers.get(row) as string);
        out.terminals.push(terminals.get(row) as string);
        out.amount.push(amounts.get(row) as number);
        const fraud = frauds.get(row);
        out.txFraud.push(fraud === null ? null : Number(fraud));
      }
    }
    rt.heartbeat({ partitions: index + 1, of: partitions.length });
  }
  return out;
}

/** The labels known by the cut-off: each row's own tx_fraud (reported `labelDelayDays` after it) and the label source's rows. */
async function readLabels(rt: KindRuntime, snapshot: DatasetSnapshot, tx: Collected, timeMs: Float64Array, cutoffMs: number, options: FeatureOptions): Promise<{ labels: LabelColumns; orphans: number }> {
  const fromRows = labelsFromTxFraud(timeMs, tx.txFraud, options);
  const indexOf = new Map(tx.ids.map((id, i) => [id, i]));
  const index: number[] = [];
  const fraud: number[] = [];
  const reportedAt: number[] = [];
  let orphans = 0;
  for (const partition of snapshot.sources.labels?.partitions ?? []) {
    for await (const batch of readBatches(rt.store, partition.key)) {
      const [ids, labels, reported] = ['transaction_id', 'label', 'reported_at'].map((c) => batch.getChild(c)!);
      for (let row = 0; row < batch.numRows; row++) {
        const at = Number(reported.get(row));
        if (at >= cutoffMs) continue;
        const i = indexOf.get(ids.get(row) as string);
        if (i === undefined) {
          orphans++;
          continue;
        }
        index.push(i);
        fraud.push(labels.get(row) === 'fraud' ? 1 : 0);
        reportedAt.push(at);
      }
    }
  }
  const labels: LabelColumns = {
    transactionIndex: Int32Array.from([...fromRows.transactionIndex, ...index]),
    fraud: Uint8Array.from([...fromRows.fraud, ...fraud]),
    reportedAtMs: Float64Array.from([...fromRows.reportedAtMs, ...reportedAt]),
  };
  return { labels, orphans };
}

/** Each transaction's label as known now: the latest reported verdict; genuine when none came. */
function currentLabels(n: number, labels: LabelColumns): { label: Uint8Array; reportedAt: Float64Array } {
  const label = new Uint8Array(n);
  const reportedAt = new Float64Array(n).fill(Number.NaN);
  for (let l = 0; l < labels.transactionIndex.length; l++) {
    const i = labels.transactionIndex[l];
    if (Number.isNaN(reportedAt[i]) || labels.reportedAtMs[l] >= reportedAt[i]) {
      label[i] = labels.fraud[l];
      reportedAt[i] = labels.reportedAtMs[l];
    }
  }
  return { label, reportedAt };
}

/** A card's held-out draw: a hash of seed and card id, the same on every run of the same data. */
const holdoutOf = (customers: DictionaryEncoder, share: number, seed: string) => (card: number) =>
  createHash('sha256').update(`${seed}:${customers.ids[card]}`).digest().readUInt32BE(0) / 2 ** 32 < share;

export async function prepareTransactions(rt: KindRuntime, snapshot: DatasetSnapshot, options: RiskOptions): Promise<Omit<PreprocessResult, 'cached' | 'kind'>> {
  const { dataset, dataCutoff } = rt.ctx.config;
  const cutoffMs = dataCutoff ? Date.parse(dataCutoff) : Number.POSITIVE_INFINITY;
  const featureOptions = featureOptionsOf(options);
  const tx = await readTransactions(rt, snapshot, cutoffMs);
  const n = tx.ids.length;
  if (n === 0) throw new NoTransactionsError(dataset, 'no transactions before the cut-off');
  const customers = new DictionaryEncoder();
  const terminals = new DictionaryEncoder();
  const timeMs = Float64Array.from(tx.timeMs);
  const columns = {
    timeMs,
    customer: Int32Array.from(tx.customers, (c) => customers.encode(c)),
    terminal: Int32Array.from(tx.terminals, (t) => terminals.encode(t)),
    amount: Float64Array.from(tx.amount),
  };
  const { labels, orphans } = await readLabels(rt, snapshot, tx, timeMs, cutoffMs, featureOptions);
  const features = computeBatchFeatures(columns, labels, featureOptions);
  rt.heartbeat({ features: n });
  const { label, reportedAt } = currentLabels(n, labels);
  const day = Int32Array.from(timeMs, dayOf);
  const lastDay = day.reduce((a, b) => Math.max(a, b), -Infinity);
  const windows = windowsFor(options, lastDay);
  if (windows.trainStartDay < day.reduce((a, b) => Math.min(a, b), Infinity)) {
    throw new NoTransactionsError(dataset, `the protocol needs data from ${isoDay(windows.trainStartDay)} (train ${options.trainDays} + delay ${options.delayDays} + test ${options.testDays} days); the data starts ${isoDay(Math.min(...day))}`);
  }
  const split = assignSplits(day, columns.customer, label, windows, options, holdoutOf(customers, options.validationShare, 'validation'));
  const count = (s: number, fraudOnly = false) => split.reduce((m, v, i) => m + (v === s && (!fraudOnly || label[i] === 1) ? 1 : 0), 0);
  for (const [name, s] of Object.entries({ train: SPLIT.train, validation: SPLIT.validation, test: SPLIT.test })) {
    if (count(s, true) === 0) throw new NoTransactionsError(dataset, `the ${name} window (train from ${isoDay(windows.trainStartDay)}, test ${isoDay(windows.testStartDay)}..${isoDay(windows.testEndDay)}) holds no known fraud`);
  }

  const keep = Array.from(split.keys()).filter((i) => split[i] !== SPLIT.none);
  const names = featureNames(featureOptions);
  const width = names.length;
  const featureColumns = Object.fromEntries(names.map((name, j) => [name, Float32Array.from(keep, (i) => features.values[i * width + j])]));
  const table: Table = tableFromColumns(featuresSchema(names), {
    transaction_id: keep.map((i) => tx.ids[i]),
    day: Int32Array.from(keep, (i) => day[i]),
    card: Int32Array.from(keep, (i) => columns.customer[i]),
    split: Int8Array.from(keep, (i) => split[i]),
    label: Int8Array.from(keep, (i) => label[i]),
    ...featureColumns,
  });

  // What serving needs to continue the feature windows: the last delay + longest window of data.
  const endMs = (lastDay + 1) * DAY_MS;
  const retentionMs = (options.labelDelayDays + Math.max(...featureOptions.windowsDays)) * DAY_MS;
  const recent = Array.from(timeMs.keys()).filter((i) => timeMs[i] >= endMs - retentionMs).sort((a, b) => timeMs[a] - timeMs[b] || a - b);
  const onlineState = tableFromColumns(ONLINE_STATE_SCHEMA, {
    transaction_id: recent.map((i) => tx.ids[i]),
    tx_datetime: recent.map((i) => timeMs[i]),
    customer_id: recent.map((i) => tx.customers[i]),
    terminal_id: recent.map((i) => tx.terminals[i]),
    tx_amount: recent.map((i) => tx.amount[i]),
    fraud: recent.map((i) => (Number.isNaN(reportedAt[i]) ? null : label[i])),
    reported_at: recent.map((i) => (Number.isNaN(reportedAt[i]) ? null : reportedAt[i])),
  });

  const stats = {
    transactions: n,
    customers: customers.size,
    terminals: terminals.size,
    knownFrauds: label.reduce((m, v) => m + v, 0),
    trainRows: count(SPLIT.train),
    validationRows: count(SPLIT.validation),
    testRows: count(SPLIT.test),
    trainFrauds: count(SPLIT.train, true),
    testFrauds: count(SPLIT.test, true),
    duplicates: tx.duplicates,
    afterCutoff: tx.afterCutoff,
    orphanLabels: orphans,
  };
  return {
    artifacts: { features: await rt.putTable('features', table), 'online-state': await rt.putTable('online-state', onlineState) },
    stats,
    rows: keep.length,
    detail: `${n} transactions, ${customers.size} cards; train ${isoDay(windows.trainStartDay)} +${options.trainDays}d (${stats.trainFrauds} frauds), test ${isoDay(windows.testStartDay)}..${isoDay(windows.testEndDay)} (${stats.testRows} rows, ${stats.testFrauds} frauds)`,
  };
}

/** The rows of one split of the features artifact, as the models take them. */
export interface SplitRows {
  x: Float32Array;
  y: Uint8Array;
  day: Int32Array;
  card: Int32Array;
  ids: string[];
  names: string[];
}

export function splitRows(table: Table, which: readonly number[]): SplitRows {
  const names = table.schema.fields.map((f) => f.name).slice(5);
  const split = table.getChild('split')!.toArray() as Int8Array;
  const rows = Array.from(split.keys()).filter((i) => which.includes(split[i]));
  const label = table.getChild('label')!.toArray() as Int8Array;
  const day = table.getChild('day')!.toArray() as Int32Array;
  const card = table.getChild('card')!.toArray() as Int32Array;
  const ids = table.getChild('transaction_id')!;
  const featureColumns = names.map((name) => table.getChild(name)!.toArray() as Float32Array);
  const x = new Float32Array(rows.length * names.length);
  rows.forEach((i, r) => featureColumns.forEach((column, j) => (x[r * names.length + j] = column[i])));
  return {
    x,
    y: Uint8Array.from(rows, (i) => label[i]),
    day: Int32Array.from(rows, (i) => day[i]),
    card: Int32Array.from(rows, (i) => card[i]),
    ids: rows.map((i) => ids.get(i) as string),
    names,
  };
}
