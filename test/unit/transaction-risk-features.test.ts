import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { datasetOrSkip } from '../datasets';
import { createGunzip } from 'node:zlib';
import { parse as csvParser } from 'csv-parse';
import {
  computeBatchFeatures,
  DEFAULT_FEATURE_OPTIONS,
  DictionaryEncoder,
  FEATURE_NAMES,
  featureNames,
  labelsFromTxFraud,
  OnlineFeatureState,
  timeOrder,
  type FeatureOptions,
  type LabelColumns,
  type TransactionColumns,
} from '../../activities/model-kinds/transaction-risk/features';
import { tableFromIPC, tableToIPC } from 'apache-arrow';
import {
  FraudLabelRow,
  labelsTable,
  LABEL_SCHEMA,
  REQUIRED_LABEL_COLUMNS,
  REQUIRED_TRANSACTION_COLUMNS,
  TRANSACTION_SCHEMA,
  TransactionRow,
  transactionsTable,
  type Transaction,
} from '../../activities/model-kinds/transaction-risk/rows';
import { simulateTransactions } from '../../activities/model-kinds/transaction-risk/simulator';

const DAY = 86_400_000;
const HOUR = 3_600_000;

/** Transactions with string ids, as serving sees them, and as columns for batch. */
interface Table {
  ids: string[];
  customers: string[];
  terminals: string[];
  columns: TransactionColumns;
  txFraud: (0 | 1 | null)[];
}

function table(rows: Pick<Transaction, 'transaction_id' | 'tx_datetime' | 'customer_id' | 'terminal_id' | 'tx_amount' | 'tx_fraud'>[]): Table {
  const customers = new DictionaryEncoder();
  const terminals = new DictionaryEncoder();
  return {
    ids: rows.map((r) => r.transaction_id),
    customers: rows.map((r) => r.customer_id),
    terminals: rows.map((r) => r.terminal_id),
    columns: {
      timeMs: Float64Array.from(rows, (r) => r.tx_datetime),
      customer: Int32Array.from(rows, (r) => customers.encode(r.customer_id)),
      terminal: Int32Array.from(rows, (r) => terminals.encode(r.terminal_id)),
      amount: Float64Array.from(rows, (r) => r.tx_amount),
    },
    txFraud: rows.map((r) => r.tx_fraud),
  };
}

function labelColumns(labels: { row: number; fraud: boolean; reportedAtMs: number }[]): LabelColumns {
  return {
    transactionIndex: Int32Array.from(labels, (l) => l.row),
    fraud: Uint8Array.from(labels, (l) => (l.fraud ? 1 : 0)),
    reportedAtMs: Float64Array.from(labels, (l) => l.reportedAtMs),
  };
}

/** Row i of a row-major feature matrix. */
const rowOf = (values: Float32Array, width: number, i: number) => Array.from(values.subarray(i * width, (i + 1) * width));

/**
 * Scores `t` (in time order) through OnlineFeatureState. `labels` go in either just before the
 * first transaction at or after their reportedAt ('when due'), or right after the transaction
 * they are about ('early', held back by the state until due).
 */
function scoreOnline(t: Table, labels: LabelColumns, options: FeatureOptions, feed: 'when due' | 'early'): Float32Array {
  const online = new OnlineFeatureState(options);
  const width = online.names.length;
  const out = new Float32Array(t.ids.length * width);
  const byTime = timeOrder(labels.reportedAtMs);
  const byTransaction = new Map<number, number[]>();
  labels.transactionIndex.forEach((row, l) => byTransaction.set(row, [...(byTransaction.get(row) ?? []), l]));
  const add = (l: number) =>
    assert.ok(online.addLabel({ transactionId: t.ids[labels.transactionIndex[l]], fraud: labels.fraud[l] === 1, reportedAtMs: labels.reportedAtMs[l] }), `label ${l} refused`);
  const scored = new Uint8Array(t.ids.length);
  // A label due before its own transaction is scored (a delay of 0) goes in right after it.
  const waiting = new Map<number, number[]>();
  let next = 0;
  for (const i of timeOrder(t.columns.timeMs)) {
    const time = t.columns.timeMs[i];
    for (; feed === 'when due' && next < byTime.length && labels.reportedAtMs[byTime[next]] <= time; next++) {
      const row = labels.transactionIndex[byTime[next]];
      if (scored[row]) add(byTime[next]);
      else waiting.set(row, [...(waiting.get(row) ?? []), byTime[next]]);
    }
    out.set(online.score({ transactionId: t.ids[i], timeMs: time, customerId: t.customers[i], terminalId: t.terminals[i], amount: t.columns.amount[i] }), i * width);
    scored[i] = 1;
    for (const l of (feed === 'early' ? byTransaction.get(i) : waiting.get(i)) ?? []) add(l);
  }
  return out;
}

/** The largest difference, relative for values above 1, and where it is. */
function worstDifference(a: Float32Array, b: Float32Array, names: string[]): { difference: number; where: string } {
  assert.equal(a.length, b.length);
  let difference = 0;
  let where = '-';
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (d > difference) {
      difference = d;
      where = `row ${Math.floor(i / names.length)} ${names[i % names.length]}: ${a[i]} vs ${b[i]}`;
    }
  }
  return { difference, where };
}

describe('transaction-risk row contracts', () => {
  const csvRow = { transaction_id: '0', tx_datetime: '2018-04-01 00:00:31', customer_id: '596', terminal_id: '3156', tx_amount: '57.16', tx_fraud: '0' };
  const issues = (row: Record<string, unknown>) => TransactionRow.safeParse(row).error?.issues.map((i) => `${i.path.join('.') || '(row)'}: ${i.message}`) ?? [];

  it('reads a CSV row of the handbook\'s file, its zone-less date-time as UTC', () => {
    assert.deepEqual(TransactionRow.parse(csvRow), {
      transaction_id: '0', tx_datetime: Date.UTC(2018, 3, 1, 0, 0, 31), customer_id: '596', terminal_id: '3156', tx_amount: 57.16, tx_fraud: 0,
    });
  });

  it('takes ids as integers, times as ISO, epoch seconds or ms, and fraud flags in their usual spellings', () => {
    const base = { transaction_id: 7, customer_id: 596, terminal_id: 3156, tx_amount: 5 };
    const at = Date.UTC(2018, 3, 1, 0, 0, 31);
    for (const tx_datetime of ['2018-04-01T00:00:31Z', '2018-04-01T02:00:31+02:00', at / 1000, at]) {
      assert.equal(TransactionRow.parse({ ...base, tx_datetime }).tx_datetime, at, String(tx_datetime));
    }
    const flags: [unknown, 0 | 1 | null][] = [[1, 1], ['1', 1], [true, 1], ['false', 0], [0, 0], ['', null], [null, null], [undefined, null]];
    for (const [tx_fraud, want] of flags) assert.equal(TransactionRow.parse({ ...base, tx_datetime: at, tx_fraud }).tx_fraud, want, String(tx_fraud));
    assert.equal(TransactionRow.parse({ ...base, tx_datetime: at, transaction_id: 7 }).transaction_id, '7');
  });

  it('names the field of each problem', () => {
    assert.deepEqual(issues({ ...csvRow, tx_amount: '-1' }), ['tx_amount: must be a number between 0 and 10000000, got "-1"']);
    assert.deepEqual(issues({ ...csvRow, tx_amount: '' }), ['tx_amount: must be a number between 0 and 10000000, got ""']);
    assert.deepEqual(issues({ ...csvRow, tx_fraud: '2' }), ['tx_fraud: must be 0 or 1, got "2"']);
    assert.match(issues({ ...csvRow, tx_datetime: '1990-01-01 00:00:00' })[0], /^tx_datetime: is out of range/);
    assert.match(issues({ ...csvRow, tx_datetime: 'yesterday' })[0], /^tx_datetime: is not a timestamp/);
    assert.match(issues({ ...csvRow, customer_id: ' ' })[0], /^customer_id:/);
    assert.match(issues({ ...csvRow, merchant: 'x' })[0], /Unrecognized key/);
    assert.deepEqual(REQUIRED_TRANSACTION_COLUMNS, ['transaction_id', 'tx_datetime', 'customer_id', 'terminal_id', 'tx_amount']);
  });

  it('reads fraud labels', () => {
    assert.deepEqual(FraudLabelRow.parse({ transaction_id: 3, label: 'fraud', reported_at: '2018-04-08 12:00:00' }), { transaction_id: '3', label: 'fraud', reported_at: Date.UTC(2018, 3, 8, 12) });
    assert.equal(FraudLabelRow.safeParse({ transaction_id: 3, label: 'chargeback', reported_at: 0 }).success, false);
    assert.deepEqual(REQUIRED_LABEL_COLUMNS, ['transaction_id', 'label', 'reported_at']);
  });

  it('stores validated rows in the Arrow layouts, unlabelled rows as null', () => {
    const rows = [TransactionRow.parse(csvRow), TransactionRow.parse({ ...csvRow, transaction_id: '1', tx_fraud: '' })];
    const table = tableFromIPC(tableToIPC(transactionsTable(rows)));
    assert.deepEqual(table.schema.fields.map(String), TRANSACTION_SCHEMA.fields.map(String));
    assert.deepEqual(table.toArray().map((r) => r.toJSON()), rows);
    const label = FraudLabelRow.parse({ transaction_id: 1, label: 'genuine', reported_at: 1_600_000_000_000 });
    const labels = tableFromIPC(tableToIPC(labelsTable([label])));
    assert.deepEqual(labels.schema.fields.map(String), LABEL_SCHEMA.fields.map(String));
    assert.deepEqual(labels.toArray().map((r) => r.toJSON()), [label]);
  });
});

describe('transaction-risk features: names and helpers', () => {
  it('names the handbook features in order, for any windows', () => {
    assert.deepEqual(FEATURE_NAMES, [
      'tx_amount', 'tx_during_weekend', 'tx_during_night',
      'customer_nb_tx_1d', 'customer_avg_amount_1d', 'customer_nb_tx_7d', 'customer_avg_amount_7d', 'customer_nb_tx_30d', 'customer_avg_amount_30d',
      'terminal_nb_tx_1d', 'terminal_risk_1d', 'terminal_nb_tx_7d', 'terminal_risk_7d', 'terminal_nb_tx_30d', 'terminal_risk_30d',
    ]);
    assert.deepEqual(featureNames({ windowsDays: [2], labelDelayDays: 0 }), ['tx_amount', 'tx_during_weekend', 'tx_during_night', 'customer_nb_tx_2d', 'customer_avg_amount_2d', 'terminal_nb_tx_2d', 'terminal_risk_2d']);
    assert.throws(() => featureNames({ windowsDays: [], labelDelayDays: 7 }), /at least one window/);
    assert.throws(() => featureNames({ windowsDays: [1, 1], labelDelayDays: 7 }), /duplicates/);
    assert.throws(() => featureNames({ windowsDays: [1], labelDelayDays: -1 }), /labelDelayDays/);
  });

  it('orders times stably, negative, fractional and equal ones included', () => {
    const times = Float64Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? -0 : Math.round(Math.sin(i) * 1e6) / (i % 3 === 0 ? 8 : 1)));
    const expected = Array.from(times.keys()).sort((a, b) => times[a] - times[b] || a - b);
    assert.deepEqual(Array.from(timeOrder(times)), expected);
    assert.deepEqual(Array.from(timeOrder(Float64Array.of(1, 2, 2, 3))), [0, 1, 2, 3]);
    assert.throws(() => timeOrder(Float64Array.of(1, NaN)), /not a finite number/);
  });

  it('turns a tx_fraud column into labels reported one delay later, skipping unlabelled rows', () => {
    const labels = labelsFromTxFraud(Float64Array.of(10, 20, 30), [1, null, 0], { windowsDays: [1], labelDelayDays: 2 });
    assert.deepEqual(Array.from(labels.transactionIndex), [0, 2]);
    assert.deepEqual(Array.from(labels.fraud), [1, 0]);
    assert.deepEqual(Array.from(labels.reportedAtMs), [10 + 2 * DAY, 30 + 2 * DAY]);
  });

  it('dictionary-encodes ids densely in order of first appearance', () => {
    const encoder = new DictionaryEncoder();
    assert.deepEqual(['b', 'a', 'b', 'c'].map((id) => encoder.encode(id)), [0, 1, 0, 2]);
    assert.equal(encoder.size, 3);
    assert.deepEqual(encoder.ids, ['b', 'a', 'c']);
  });
});

describe('transaction-risk features: a hand-computed fixture', () => {
  // Windows of 1 and 2 days, labels known after 1 day. Monday 2018-04-02 00:00 UTC is t = 0.
  const options: FeatureOptions = { windowsDays: [1, 2], labelDelayDays: 1 };
  const monday = Date.UTC(2018, 3, 2);
  const at = (ms: number) => monday + ms;
  const tx = (id: number, ms: number, customer: string, terminal: string, amount: number) =>
    ({ transaction_id: String(id), tx_datetime: at(ms), customer_id: customer, terminal_id: terminal, tx_amount: amount, tx_fraud: null });
  const rows = [
    tx(0, 0, 'c0', 'k0', 10),
    tx(1, DAY, 'c0', 'k0', 20),
    tx(2, DAY, 'c0', 'k1', 30), // the same ms as row 1, after it
    tx(3, 2 * DAY, 'c1', 'k0', 40),
    tx(4, 2 * DAY + 1, 'c1', 'k0', 50),
    tx(5, 5 * DAY + 7 * HOUR - 1, 'c0', 'k1', 60), // Saturday 06:59:59.999
    tx(6, 5 * DAY + 7 * HOUR, 'c2', 'k0', 70), // Saturday 07:00
  ];
  const labels = [
    // Input order is not report order: row 0 is reported a fraud at t = 1 day, then genuine at 2 days + 1 ms.
    { row: 0, fraud: false, reportedAtMs: at(2 * DAY + 1) },
    { row: 0, fraud: true, reportedAtMs: at(DAY) },
    // Two reports at the same ms: the later one in the input stands.
    { row: 1, fraud: false, reportedAtMs: at(2 * DAY + 1) },
    { row: 1, fraud: true, reportedAtMs: at(2 * DAY + 1) },
  ];
  // amount, weekend, night | customer nb, avg 1d, nb, avg 2d | terminal nb, risk 1d, nb, risk 2d
  const expected = [
    [10, 0, 1, 1, 10, 1, 10, 0, 0, 0, 0],
    // Customer 1d: row 0 sits exactly on the window's open edge (t - 1 day), so it is out; 2d: in.
    // Terminal k0 (t - 2d, t - 1d]: row 0, a fraud reported at t itself: known.
    [20, 0, 1, 1, 20, 2, 15, 1, 1, 1, 1],
    // Row 1 at the same ms, earlier in the input, is in row 2's customer windows.
    [30, 0, 1, 2, 25, 3, 20, 0, 0, 0, 0],
    // Terminal k0 1d = (0, 1 day]: row 0 on the open edge is out, row 1 on the delay edge is in, and
    // not known as fraud (reported 1 ms later); 2d = (-1 day, 1 day]: rows 0 (fraud) and 1.
    [40, 0, 1, 1, 40, 1, 40, 1, 0, 2, 0.5],
    // 1 ms later: row 1's fraud is known, row 0 has been re-labelled genuine.
    [50, 0, 1, 2, 45, 2, 45, 1, 1, 2, 0.5],
    [60, 1, 1, 1, 60, 1, 60, 0, 0, 0, 0],
    [70, 1, 0, 1, 70, 1, 70, 0, 0, 0, 0],
  ];
  const fixture = table(rows);
  const width = featureNames(options).length;

  it('batch gives the hand-computed features', () => {
    const { names, values } = computeBatchFeatures(fixture.columns, labelColumns(labels), options);
    assert.deepEqual(names, featureNames(options));
    expected.forEach((row, i) => assert.deepEqual(rowOf(values, width, i), row, `row ${i}`));
  });

  it('batch does not depend on the row order, only on the order of rows at the same ms', () => {
    const order = [6, 4, 1, 5, 2, 0, 3]; // rows 1 and 2 keep their order
    const shuffled = table(order.map((i) => rows[i]));
    const moved = labels.map((l) => ({ ...l, row: order.indexOf(l.row) }));
    const { values } = computeBatchFeatures(shuffled.columns, labelColumns(moved), options);
    order.forEach((original, i) => assert.deepEqual(rowOf(values, width, i), expected[original], `row ${original}`));
  });

  for (const feed of ['when due', 'early'] as const) {
    it(`online gives the same features, labels fed ${feed}`, () => {
      const values = scoreOnline(fixture, labelColumns(labels), options, feed);
      expected.forEach((row, i) => assert.deepEqual(rowOf(values, width, i), row, `row ${i}`));
    });
  }

  it('never counts the current transaction in its terminal\'s windows, even with no delay', () => {
    const sameMs = table([tx(0, 0, 'a', 'k', 1), tx(1, 0, 'b', 'k', 2), tx(2, 0, 'c', 'k', 3)]);
    const noDelay = { windowsDays: [1], labelDelayDays: 0 };
    const labelled = labelColumns([{ row: 0, fraud: true, reportedAtMs: at(0) }]);
    const terminal = (values: Float32Array) => [0, 1, 2].map((i) => rowOf(values, 7, i).slice(5));
    // Rows at the same ms earlier in the input are in; row 0's fraud, reported at that ms, is known.
    const want = [[0, 0], [1, 1], [2, 0.5]];
    assert.deepEqual(terminal(computeBatchFeatures(sameMs.columns, labelled, noDelay).values), want);
    assert.deepEqual(terminal(scoreOnline(sameMs, labelled, noDelay, 'when due')), want);
  });

  it('batch rejects labels for unknown rows and sparse ids', () => {
    assert.throws(() => computeBatchFeatures(fixture.columns, labelColumns([{ row: 7, fraud: true, reportedAtMs: 0 }]), options), /transactionIndex 7 is not a row/);
    const sparse = { ...fixture.columns, terminal: fixture.columns.terminal.map((k) => k * 100_000) };
    assert.throws(() => computeBatchFeatures(sparse, labelColumns([]), options), /dictionary-encode them densely/);
  });
});

describe('transaction-risk features: online serving state', () => {
  const score = (online: OnlineFeatureState, id: string, timeMs: number, customerId = 'c', terminalId = 'k', amount = 1) =>
    online.score({ transactionId: id, timeMs, customerId, terminalId, amount });

  it('reports unknown ids, rejects times that go back and ids scored twice', () => {
    const online = new OnlineFeatureState();
    assert.equal(online.addLabel({ transactionId: 'nope', fraud: true, reportedAtMs: 0 }), false);
    score(online, 'a', 1000);
    assert.throws(() => score(online, 'b', 999), /times must not decrease/);
    assert.throws(() => score(online, 'a', 1000), /already scored/);
    assert.equal(online.addLabel({ transactionId: 'a', fraud: true, reportedAtMs: 2000 }), true);
    assert.deepEqual(online.stats(), { customers: 1, terminals: 1, transactions: 1, pendingLabels: 1 });
    // Reported when 'a' is in no window any more (7 + 30 days on): accepted, not kept.
    assert.equal(online.addLabel({ transactionId: 'a', fraud: true, reportedAtMs: 1000 + 37 * DAY }), true);
    assert.equal(online.stats().pendingLabels, 1);
  });

  it('keeps only delay + max window of history, and forgets customers and terminals with none', () => {
    const online = new OnlineFeatureState(); // 7 + 30 days
    for (let day = 0; day < 100; day++) score(online, `t${day}`, day * DAY, `c${day % 10}`, `k${day}`);
    // Days 63..99 are within 37 days of day 99 (day 62 is exactly 37 days old: gone).
    assert.deepEqual(online.stats(), { customers: 10, terminals: 37, transactions: 37, pendingLabels: 0 });
    assert.equal(online.addLabel({ transactionId: 't62', fraud: true, reportedAtMs: 99 * DAY }), false, 'a dropped transaction');
    assert.equal(online.addLabel({ transactionId: 't63', fraud: true, reportedAtMs: 99 * DAY }), true);
    score(online, 'later', 500 * DAY, 'c0', 'k99');
    assert.deepEqual(online.stats(), { customers: 1, terminals: 1, transactions: 1, pendingLabels: 0 });
  });

  it('applies a label that arrives late from then on, and ignores one older than the label in effect', () => {
    const options = { windowsDays: [1], labelDelayDays: 1 };
    const online = new OnlineFeatureState(options);
    score(online, 'x', 0);
    score(online, 'y', 1.5 * DAY);
    online.addLabel({ transactionId: 'x', fraud: true, reportedAtMs: DAY }); // reported before the clock (1.5 days)
    assert.equal(score(online, 'z', 1.6 * DAY)[6], 1, 'risk counts the late label');
    online.addLabel({ transactionId: 'x', fraud: false, reportedAtMs: 0.5 * DAY }); // older than the one in effect
    assert.equal(score(online, 'w', 1.7 * DAY)[6], 1);
  });
});

describe('transaction-risk features: online equals batch', () => {
  function assertOnlineEqualsBatch(t: Table, label: string): void {
    const names = featureNames(DEFAULT_FEATURE_OPTIONS);
    const labels = labelsFromTxFraud(t.columns.timeMs, t.txFraud);
    const batch = computeBatchFeatures(t.columns, labels).values;
    for (const feed of ['when due', 'early'] as const) {
      const { difference, where } = worstDifference(scoreOnline(t, labels, DEFAULT_FEATURE_OPTIONS, feed), batch, names);
      assert.ok(difference <= 1e-6, `${label}, labels fed ${feed}: ${where}`);
    }
  }

  it('on the simulator\'s default data', () => {
    assertOnlineEqualsBatch(table(simulateTransactions()), 'simulated');
  });

  describe('on the handbook\'s card transactions (public dataset)', () => {
    let head: Transaction[];
    let trainingLeadIn: Transaction[];
    let tail: Transaction[];
    const FIRST_DAY = Date.UTC(2018, 3, 1);
    const TRAINING_WEEK = Date.UTC(2018, 6, 25);
    const LAST_DAY = Date.UTC(2018, 8, 30);
    // A row's features reach back 37 days (30-day windows after a 7-day delay).
    const LEAD_IN = 37 * DAY;

    before(async function () {
      const cardTransactions = datasetOrSkip(this, 'card-transactions', 'transactions.csv.gz');
      head = [];
      trainingLeadIn = [];
      tail = [];
      let problems = 0;
      const parser = createReadStream(cardTransactions).pipe(createGunzip()).pipe(csvParser({ columns: true }));
      for await (const record of parser) {
        const parsed = TransactionRow.safeParse(record);
        if (!parsed.success) {
          problems++;
          continue;
        }
        const time = parsed.data.tx_datetime;
        if (time < FIRST_DAY + 60 * DAY) head.push(parsed.data);
        if (time >= TRAINING_WEEK - LEAD_IN && time < TRAINING_WEEK + 7 * DAY) trainingLeadIn.push(parsed.data);
        if (time >= LAST_DAY + DAY - LEAD_IN) tail.push(parsed.data);
      }
      assert.equal(problems, 0, 'every row passes the TransactionRow contract');
      assert.ok(REQUIRED_TRANSACTION_COLUMNS.every((c) => c in head[0]));
    });

    it('on the first 60 days (~580,000 transactions)', () => {
      assert.ok(head.length > 500_000, `${head.length} rows`);
      assertOnlineEqualsBatch(table(head), 'card transactions');
    });

    it('reproduces the handbook\'s printed features of its last five transactions', () => {
      const t = table(tail);
      const { names, values } = computeBatchFeatures(t.columns, labelsFromTxFraud(t.columns.timeMs, t.txFraud));
      // From the handbook's "Baseline feature transformation" notebook output (6 decimals shown).
      const handbook: Record<string, number[]> = {
        // tx_amount, weekend, night, customer nb/avg 1d, 7d, 30d, terminal nb/risk 1d, 7d, 30d
        '1754150': [54.24, 1, 0, 2, 75.28, 12, 67.0475, 72, 69.521111, 1, 0, 4, 0, 28, 0],
        '1754151': [1.23, 1, 0, 1, 1.23, 21, 22.17381, 93, 24.780753, 1, 0, 9, 0, 39, 0],
        '1754152': [6.62, 1, 0, 5, 7.368, 21, 7.400476, 65, 7.864462, 1, 0, 5, 0, 33, 0],
        '1754153': [55.4, 1, 0, 3, 100.696667, 16, 107.0525, 51, 102.919608, 1, 0, 6, 0, 28, 0],
        '1754154': [23.59, 1, 0, 5, 41.304, 24, 35.308333, 119, 37.251513, 1, 0, 12, 0, 41, 0.02439],
      };
      for (const [id, want] of Object.entries(handbook)) {
        const got = rowOf(values, names.length, t.ids.indexOf(id));
        want.forEach((w, k) => assert.ok(Math.abs(got[k] - w) <= 6e-6 * Math.max(1, w), `transaction ${id} ${names[k]}: ${got[k]}, the handbook has ${w}`));
      }
    });

    it('matches the handbook on its training week (2018-07-25 .. 2018-07-31): size, frauds, plausible feature means', () => {
      const t = table(trainingLeadIn);
      const { names, values } = computeBatchFeatures(t.columns, labelsFromTxFraud(t.columns.timeMs, t.txFraud));
      const week = Array.from(t.columns.timeMs.keys()).filter((i) => t.columns.timeMs[i] >= TRAINING_WEEK);
      // "The training set contains 67240 transactions, among which 598 are fraudulent."
      assert.equal(week.length, 67_240);
      assert.equal(week.filter((i) => t.txFraud[i] === 1).length, 598);
      const mean = (name: string, rows = week) => rows.reduce((sum, i) => sum + values[i * names.length + names.indexOf(name)], 0) / rows.length;
      const within = (name: string, low: number, high: number, rows = week) => {
        const m = mean(name, rows);
        assert.ok(m >= low && m <= high, `mean ${name} ${m}, expected ${low}..${high}`);
      };
      within('tx_during_weekend', 0.25, 0.32); // 2 of the 7 days
      within('tx_during_night', 0.12, 0.22); // 00:00-06:59 of N(noon, 20000 s)
      within('customer_avg_amount_30d', 48, 60); // amounts average ~53.6
      within('customer_nb_tx_30d', 55, 85); // U(0, 4) a day over 30 days: ~60, more for the frequent spenders
      within('customer_nb_tx_1d', 2, 5);
      within('terminal_nb_tx_30d', 20, 35); // ~1 a day per terminal
      within('terminal_risk_30d', 0.003, 0.02); // about the fraud share
      // Scenario 2 shows: frauds happen at terminals with a known fraud history far more often.
      const frauds = week.filter((i) => t.txFraud[i] === 1);
      const genuine = week.filter((i) => t.txFraud[i] === 0);
      assert.ok(mean('terminal_risk_30d', frauds) > 5 * mean('terminal_risk_30d', genuine));
    });
  });
});
