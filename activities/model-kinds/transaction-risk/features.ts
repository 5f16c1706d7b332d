/**
 * Point-in-time features of a card transaction, after the Fraud Detection Handbook's
 * "baseline feature transformation", defined once and computed two ways:
 *
 *   - `computeBatchFeatures`: columnar, over a whole table (preprocess, training sets);
 *   - `OnlineFeatureState`: one transaction at a time, as serving sees them, with bounded
 *     per-customer and per-terminal history.
 *
 * Both give the same float32 values (the unit tests check it on real and simulated data),
 * because they run the same float64 operations in the same order per customer and terminal.
 *
 * Features, in this order (`featureNames`):
 *   tx_amount, tx_during_weekend (Sat/Sun, UTC), tx_during_night (UTC hour <= 6, as the handbook);
 *   per window w: customer_nb_tx_<w>d, customer_avg_amount_<w>d over the customer's transactions
 *     with time in (t - w, t], the current one included (the handbook's pandas rolling);
 *   per window w: terminal_nb_tx_<w>d, terminal_risk_<w>d over the terminal's transactions with
 *     time in (t - delay - w, t - delay]; risk = known frauds / nb, 0 when nb = 0.
 *
 * Point in time: a transaction counts as a fraud in a feature at time t only if the latest
 * label for it reported at or before t says fraud (labels reported at the same ms: the later
 * one in input / arrival order wins). A row's own tx_fraud is a label reported at its time +
 * delay (`labelsFromTxFraud`), which makes the terminal risk equal to the handbook's.
 *
 * Ties: rows are processed in (time, input order); rows at the same ms as the current one but
 * earlier in that order are inside its windows, later ones are not (pandas' rolling does the
 * same). A customer window always holds the current row; a terminal window never does.
 */

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** The last hour of the night, inclusive (the handbook's `hour <= 6`). */
const LAST_NIGHT_HOUR = 6;

export interface FeatureOptions {
  windowsDays: number[];
  labelDelayDays: number;
}

export const DEFAULT_FEATURE_OPTIONS: FeatureOptions = Object.freeze({
  windowsDays: Object.freeze([1, 7, 30]) as number[],
  labelDelayDays: 7,
});

/** Columns of the first three features; the window features follow. */
const AMOUNT = 0;
const WEEKEND = 1;
const NIGHT = 2;
const WINDOW_FEATURES_START = 3;

export function featureNames(options: FeatureOptions = DEFAULT_FEATURE_OPTIONS): string[] {
  const windows = featurePlan(options).windowsDays;
  return [
    'tx_amount',
    'tx_during_weekend',
    'tx_during_night',
    ...windows.flatMap((w) => [`customer_nb_tx_${w}d`, `customer_avg_amount_${w}d`]),
    ...windows.flatMap((w) => [`terminal_nb_tx_${w}d`, `terminal_risk_${w}d`]),
  ];
}

export const FEATURE_NAMES: readonly string[] = Object.freeze(featureNames());

/** Window lengths and offsets in ms, shared by batch and online so both compare the same numbers. */
interface FeaturePlan {
  windowsDays: number[];
  windowsMs: Float64Array;
  delayMs: number;
  /** delay + w: a terminal window holds rows with time in (t - terminalReachMs[k], t - delayMs]. */
  terminalReachMs: Float64Array;
  /** Past this age a row is in no window and online serving forgets it. */
  retentionMs: number;
  featureCount: number;
  customerColumn: (k: number) => number;
  terminalColumn: (k: number) => number;
}

function featurePlan(options: FeatureOptions): FeaturePlan {
  const windowsDays = [...options.windowsDays];
  if (windowsDays.length === 0) throw new RangeError('windowsDays must name at least one window');
  for (const w of windowsDays) {
    if (!Number.isFinite(w) || w <= 0) throw new RangeError(`windowsDays must be positive numbers of days, got ${w}`);
  }
  if (new Set(windowsDays).size !== windowsDays.length) throw new RangeError(`windowsDays has duplicates: ${windowsDays.join(', ')}`);
  const delay = options.labelDelayDays;
  if (!Number.isFinite(delay) || delay < 0) throw new RangeError(`labelDelayDays must be a number of days >= 0, got ${delay}`);
  const windowsMs = Float64Array.from(windowsDays, (w) => w * DAY_MS);
  const delayMs = delay * DAY_MS;
  const count = windowsDays.length;
  return {
    windowsDays,
    windowsMs,
    delayMs,
    terminalReachMs: windowsMs.map((w) => delayMs + w),
    retentionMs: delayMs + Math.max(...windowsMs),
    featureCount: WINDOW_FEATURES_START + 4 * count,
    customerColumn: (k) => WINDOW_FEATURES_START + 2 * k,
    terminalColumn: (k) => WINDOW_FEATURES_START + 2 * count + 2 * k,
  };
}

/** tx_amount, tx_during_weekend, tx_during_night into `out` at `at`. */
function writeTransactionFeatures(out: Float32Array, at: number, timeMs: number, amount: number): void {
  const day = Math.floor(timeMs / DAY_MS);
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  out[at + AMOUNT] = amount;
  out[at + WEEKEND] = weekday === 0 || weekday === 6 ? 1 : 0;
  out[at + NIGHT] = Math.floor((timeMs - day * DAY_MS) / HOUR_MS) <= LAST_NIGHT_HOUR ? 1 : 0;
}

// ------------------------------------------------------------------ batch

/** Transactions as columns; ids dictionary-encoded to dense ints (0..n) by the caller; rows in any order. */
export interface TransactionColumns {
  timeMs: Float64Array;
  customer: Int32Array;
  terminal: Int32Array;
  amount: Float64Array;
}

/** Fraud labels as columns: which transaction (row index), the verdict (1 = fraud), when it was reported. */
export interface LabelColumns {
  transactionIndex: Int32Array;
  fraud: Uint8Array;
  reportedAtMs: Float64Array;
}

export interface BatchFeatures {
  names: string[];
  /** Row-major, `names.length` values per transaction, rows in the input order. */
  values: Float32Array;
}

/**
 * The labels that a table's own tx_fraud column stands for: each non-null flag is reported
 * `labelDelayDays` after its transaction.
 */
export function labelsFromTxFraud(
  timeMs: Float64Array,
  txFraud: ArrayLike<number | null | undefined>,
  options: FeatureOptions = DEFAULT_FEATURE_OPTIONS,
): LabelColumns {
  if (txFraud.length !== timeMs.length) throw new RangeError(`tx_fraud has ${txFraud.length} values for ${timeMs.length} transactions`);
  const { delayMs } = featurePlan(options);
  let count = 0;
  for (let i = 0; i < txFraud.length; i++) if (txFraud[i] !== null && txFraud[i] !== undefined) count++;
  const labels: LabelColumns = { transactionIndex: new Int32Array(count), fraud: new Uint8Array(count), reportedAtMs: new Float64Array(count) };
  for (let i = 0, l = 0; i < txFraud.length; i++) {
    if (txFraud[i] === null || txFraud[i] === undefined) continue;
    labels.transactionIndex[l] = i;
    labels.fraud[l] = txFraud[i] ? 1 : 0;
    labels.reportedAtMs[l++] = timeMs[i] + delayMs;
  }
  return labels;
}

export function computeBatchFeatures(tx: TransactionColumns, labels: LabelColumns, options: FeatureOptions = DEFAULT_FEATURE_OPTIONS): BatchFeatures {
  const plan = featurePlan(options);
  const n = tx.timeMs.length;
  for (const [name, column] of Object.entries({ customer: tx.customer, terminal: tx.terminal, amount: tx.amount })) {
    if (column.length !== n) throw new RangeError(`${name} has ${column.length} values for ${n} transactions`);
  }
  const labelCount = labels.transactionIndex.length;
  if (labels.fraud.length !== labelCount || labels.reportedAtMs.length !== labelCount) throw new RangeError('label columns differ in length');
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(tx.amount[i])) throw new RangeError(`transaction ${i}: amount ${tx.amount[i]} is not a finite number`);
  }
  for (let l = 0; l < labelCount; l++) {
    const row = labels.transactionIndex[l];
    if (row < 0 || row >= n) throw new RangeError(`label ${l}: transactionIndex ${row} is not a row (0..${n - 1})`);
  }
  const values = new Float32Array(n * plan.featureCount);
  const byTime = timeOrder(tx.timeMs, 'transaction time');
  customerSweep(tx, plan, byTime, values);
  terminalSweep(tx, labels, plan, byTime, values);
  return { names: featureNames(options), values };
}

/**
 * Rows grouped by a dense id, each group in the order of `order`: group g holds places
 * start[g]..start[g + 1], `rows[place]` is the row at a place and `position[row]` its place. `records` holds `stride`
 * numbers per place, the first ones copied from the grouped columns.
 */
interface Groups {
  start: Int32Array;
  rows: Uint32Array;
  position: Uint32Array;
  records: Float64Array;
}

/** How many groups dense ids make (max + 1), checking that they are dense enough to count-sort. */
function groupCount(ids: Int32Array, what: string): number {
  let max = -1;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0) throw new RangeError(`${what} id ${ids[i]} at row ${i}: ids must be dictionary-encoded to 0, 1, 2, ...`);
    if (ids[i] > max) max = ids[i];
  }
  if (max >= Math.max(1024, 4 * ids.length)) throw new RangeError(`${what} ids go up to ${max} for ${ids.length} rows: dictionary-encode them densely`);
  return max + 1;
}

/**
 * A stable counting sort of `order` by `ids` (each in 0..groups) that copies `columns` into
 * group order in the same pass: its writes advance one place per group at a time, which caches
 * well, where gathering afterwards would read the columns at random. Interleaved records make a
 * window edge's reads (time, amount or known fraud) share a cache line.
 */
function groupRows(ids: Int32Array, order: Uint32Array, groups: number, columns: Float64Array[], stride = columns.length): Groups {
  const start = new Int32Array(groups + 1);
  for (let p = 0; p < order.length; p++) start[ids[order[p]] + 1]++;
  for (let g = 0; g < groups; g++) start[g + 1] += start[g];
  const next = start.slice(0, groups);
  const rows = new Uint32Array(order.length);
  const position = new Uint32Array(ids.length);
  const records = new Float64Array(order.length * stride);
  for (let p = 0; p < order.length; p++) {
    const row = order[p];
    const place = next[ids[row]]++;
    rows[place] = row;
    position[row] = place;
    for (let c = 0; c < columns.length; c++) records[place * stride + c] = columns[c][row];
  }
  return { start, rows, position, records };
}

/** When a transaction's known status flips, and how (+1: becomes a known fraud, -1: no longer). */
interface LabelChanges {
  atMs: Float64Array;
  transaction: Int32Array;
  change: Int8Array;
}

/**
 * Labels take effect in (reportedAt, input) order, as OnlineFeatureState applies them, each
 * replacing the one before for its transaction; so which of them flip a transaction's status is
 * known up front. Only those reach the sweep (with tx_fraud labels: the frauds, not every row).
 * Within a terminal, flips apply in time order; across terminals the order does not matter.
 */
function labelChanges(labels: LabelColumns, transactions: number): LabelChanges {
  const order = timeOrder(labels.reportedAtMs, 'label reportedAtMs');
  const status = new Uint8Array(transactions);
  const flips: number[] = [];
  for (const label of order) {
    const verdict = labels.fraud[label] ? 1 : 0;
    const row = labels.transactionIndex[label];
    if (verdict === status[row]) continue;
    status[row] = verdict;
    flips.push(label);
  }
  return {
    atMs: Float64Array.from(flips, (l) => labels.reportedAtMs[l]),
    transaction: Int32Array.from(flips, (l) => labels.transactionIndex[l]),
    change: Int8Array.from(flips, (l) => (labels.fraud[l] ? 1 : -1)),
  };
}

/*
 * Each sweep takes one customer (terminal) at a time, its rows copied next to each other in time
 * order by `groupRows`, so that its reads stream through memory; only the output rows are
 * written out of order. (Walking all rows in time order instead, with per-entity state, wrote the
 * output in order but read each entity's records at random: measured twice as slow.)
 */

/** Calendar and customer features. */
function customerSweep(tx: TransactionColumns, plan: FeaturePlan, byTime: Uint32Array, out: Float32Array): void {
  const W = plan.windowsMs.length;
  const { windowsMs, featureCount } = plan;
  const columns = Int32Array.from({ length: W }, (_, k) => plan.customerColumn(k));
  // Records: (time, amount).
  const { records, rows, start } = groupRows(tx.customer, byTime, groupCount(tx.customer, 'customer'), [tx.timeMs, tx.amount]);
  // Per window: the place where it starts in the current customer's records, and its sum.
  const first = new Int32Array(W);
  const sums = new Float64Array(W);
  for (let g = 0; g + 1 < start.length; g++) {
    first.fill(start[g]);
    sums.fill(0);
    for (let p = start[g]; p < start[g + 1]; p++) {
      const row = rows[p];
      const at = row * featureCount;
      const t = records[2 * p];
      writeTransactionFeatures(out, at, t, records[2 * p + 1]);
      // The steps of CustomerHistory.expire and addAndWrite, in the same order.
      for (let k = 0; k < W; k++) {
        const edge = t - windowsMs[k];
        let f = first[k];
        let sum = sums[k];
        while (f < p && records[2 * f] <= edge) sum -= records[2 * f++ + 1];
        if (f === p) sum = 0;
        sum += records[2 * p + 1];
        first[k] = f;
        sums[k] = sum;
        const count = p - f + 1;
        out[at + columns[k]] = count;
        out[at + columns[k] + 1] = sum / count;
      }
    }
  }
}

/** Terminal features. */
function terminalSweep(tx: TransactionColumns, labels: LabelColumns, plan: FeaturePlan, byTime: Uint32Array, out: Float32Array): void {
  const W = plan.windowsMs.length;
  const { terminalReachMs, delayMs, featureCount } = plan;
  const columns = Int32Array.from({ length: W }, (_, k) => plan.terminalColumn(k));
  const terminalCount = groupCount(tx.terminal, 'terminal');
  // Records: (time, 1 if the label in effect says fraud).
  const { records, rows, start, position } = groupRows(tx.terminal, byTime, terminalCount, [tx.timeMs], 2);
  // The label flips grouped by their transaction's terminal, each group in time order.
  const changes = labelChanges(labels, byTime.length);
  const flipTerminal = new Int32Array(changes.transaction.length);
  for (let f = 0; f < flipTerminal.length; f++) flipTerminal[f] = tx.terminal[changes.transaction[f]];
  const flips = groupRows(flipTerminal, timeOrder(changes.atMs), terminalCount, [changes.atMs]);
  // Places [first[k], entered) of the current terminal's records are inside window k, with frauds[k] known frauds.
  const first = new Int32Array(W);
  const frauds = new Int32Array(W);
  for (let g = 0; g < terminalCount; g++) {
    let entered = start[g];
    first.fill(start[g]);
    frauds.fill(0);
    let nextFlip = flips.start[g];
    const flipsEnd = flips.start[g + 1];
    for (let p = start[g]; p < start[g + 1]; p++) {
      const row = rows[p];
      const t = records[2 * p];
      // The steps of OnlineFeatureState's labels, TerminalHistory.advance and write.
      for (; nextFlip < flipsEnd && flips.records[nextFlip] <= t; nextFlip++) {
        const flip = flips.rows[nextFlip];
        const place = position[changes.transaction[flip]];
        const change = changes.change[flip];
        records[2 * place + 1] += change;
        for (let k = 0; k < W; k++) if (place >= first[k] && place < entered) frauds[k] += change;
      }
      for (const entryEdge = t - delayMs; entered < p && records[2 * entered] <= entryEdge; entered++) {
        if (records[2 * entered + 1]) for (let k = 0; k < W; k++) frauds[k]++;
      }
      const at = row * featureCount;
      for (let k = 0; k < W; k++) {
        const edge = t - terminalReachMs[k];
        let f = first[k];
        while (f < entered && records[2 * f] <= edge) frauds[k] -= records[2 * f++ + 1];
        first[k] = f;
        const count = entered - f;
        out[at + columns[k]] = count;
        out[at + columns[k] + 1] = count > 0 ? frauds[k] / count : 0;
      }
    }
  }
}

/**
 * The stable ascending order of `times` (equal times keep their input order). Already sorted
 * input (the usual case) costs one pass; otherwise an LSD radix sort on the float64 bit
 * patterns, 16 bits a pass, skipping the passes where every key has the same digit.
 */
export function timeOrder(times: Float64Array, what = 'time'): Uint32Array {
  const n = times.length;
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (!Number.isFinite(times[i])) throw new RangeError(`${what} at row ${i} is not a finite number: ${times[i]}`);
    if (i > 0 && times[i] < times[i - 1]) sorted = false;
  }
  if (sorted) return order;
  // Map each double to an unsigned 64-bit key (hi, lo) that sorts as the numbers do:
  // flip the sign bit of positives, every bit of negatives. -0 is read as +0.
  const scratch = new Float64Array(n);
  for (let i = 0; i < n; i++) scratch[i] = times[i] + 0;
  const words = new Uint32Array(scratch.buffer);
  const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const h = words[2 * i + (littleEndian ? 1 : 0)];
    const l = words[2 * i + (littleEndian ? 0 : 1)];
    const negative = h >>> 31 === 1;
    hi[i] = negative ? ~h >>> 0 : (h | 0x80000000) >>> 0;
    lo[i] = negative ? ~l >>> 0 : l;
  }
  let from = order;
  let to = new Uint32Array(n);
  const counts = new Uint32Array(65536);
  for (const [word, shift] of [[lo, 0], [lo, 16], [hi, 0], [hi, 16]] as const) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(word[i] >>> shift) & 0xffff]++;
    if (counts[(word[0] >>> shift) & 0xffff] === n) continue;
    let total = 0;
    for (let d = 0; d < 65536; d++) {
      const c = counts[d];
      counts[d] = total;
      total += c;
    }
    for (let p = 0; p < n; p++) {
      const row = from[p];
      to[counts[(word[row] >>> shift) & 0xffff]++] = row;
    }
    [from, to] = [to, from];
  }
  return from;
}

// ------------------------------------------------------------------ online

export interface OnlineTransaction {
  transactionId: string;
  timeMs: number;
  customerId: string;
  terminalId: string;
  amount: number;
}

export interface OnlineLabel {
  transactionId: string;
  fraud: boolean;
  reportedAtMs: number;
}

/** What serving keeps of one transaction while it can still be in a window. */
interface TransactionRecord {
  id: string;
  timeMs: number;
  amount: number;
  /** 1 when the latest label in effect says fraud. */
  knownFraud: 0 | 1;
  /** reportedAt of the label in effect; -Infinity before any. */
  labelReportedAtMs: number;
  customer: CustomerHistory;
  terminal: TerminalHistory;
  /** Its index in the terminal's history (to tell whether it is inside a window). */
  terminalIndex: number;
  retained: boolean;
}

/**
 * A FIFO addressed by ever-increasing indices (`first` .. `end`), compacted now and then, so
 * that window boundaries can be kept as plain indices while old rows are dropped.
 */
class IndexedQueue<T> {
  private items: T[] = [];
  /** The index of items[0]. */
  private offset = 0;
  first = 0;

  get end(): number {
    return this.offset + this.items.length;
  }

  get size(): number {
    return this.end - this.first;
  }

  at(index: number): T {
    return this.items[index - this.offset];
  }

  push(item: T): number {
    this.items.push(item);
    return this.end - 1;
  }

  shift(): T {
    const item = this.at(this.first++);
    const dead = this.first - this.offset;
    if (dead >= 64 && 2 * dead >= this.items.length) {
      this.items = this.items.slice(dead);
      this.offset = this.first;
    }
    return item;
  }
}

class CustomerHistory {
  readonly rows = new IndexedQueue<TransactionRecord>();
  private readonly firstInWindow: number[];
  private readonly sums: Float64Array;

  constructor(
    readonly id: string,
    private readonly plan: FeaturePlan,
  ) {
    this.firstInWindow = Array.from(plan.windowsMs, () => 0);
    this.sums = new Float64Array(plan.windowsMs.length);
  }

  /** Drops from each window the rows at or before t - w (the batch sweep's steps, same order). */
  expire(t: number): void {
    const end = this.rows.end;
    for (let k = 0; k < this.sums.length; k++) {
      const edge = t - this.plan.windowsMs[k];
      let first = this.firstInWindow[k];
      let sum = this.sums[k];
      while (first < end && this.rows.at(first).timeMs <= edge) sum -= this.rows.at(first++).amount;
      if (first === end) sum = 0;
      this.firstInWindow[k] = first;
      this.sums[k] = sum;
    }
  }

  /** Features of a transaction at time t (after `expire(t)`), counting it in, then keeps it. */
  addAndWrite(record: TransactionRecord, out: Float32Array): void {
    const end = this.rows.end;
    for (let k = 0; k < this.sums.length; k++) {
      const sum = (this.sums[k] += record.amount);
      const count = end - this.firstInWindow[k] + 1;
      const column = this.plan.customerColumn(k);
      out[column] = count;
      out[column + 1] = sum / count;
    }
    this.rows.push(record);
  }
}

class TerminalHistory {
  readonly rows = new IndexedQueue<TransactionRecord>();
  /** Rows before this index are old enough (<= t - delay) to be in windows. */
  private entered = 0;
  private readonly firstInWindow: number[];
  private readonly frauds: number[];

  constructor(
    readonly id: string,
    private readonly plan: FeaturePlan,
  ) {
    this.firstInWindow = Array.from(plan.windowsMs, () => 0);
    this.frauds = Array.from(plan.windowsMs, () => 0);
  }

  /** Moves the windows to time t: rows at or before t - delay enter, rows at or before t - delay - w leave. */
  advance(t: number): void {
    const entryEdge = t - this.plan.delayMs;
    while (this.entered < this.rows.end && this.rows.at(this.entered).timeMs <= entryEdge) {
      if (this.rows.at(this.entered).knownFraud) for (let k = 0; k < this.frauds.length; k++) this.frauds[k]++;
      this.entered++;
    }
    for (let k = 0; k < this.frauds.length; k++) {
      const edge = t - this.plan.terminalReachMs[k];
      let first = this.firstInWindow[k];
      while (first < this.entered && this.rows.at(first).timeMs <= edge) this.frauds[k] -= this.rows.at(first++).knownFraud;
      this.firstInWindow[k] = first;
    }
  }

  setKnownFraud(record: TransactionRecord, fraud: 0 | 1): void {
    const change = fraud - record.knownFraud;
    if (change === 0) return;
    record.knownFraud = fraud;
    for (let k = 0; k < this.frauds.length; k++) {
      if (record.terminalIndex >= this.firstInWindow[k] && record.terminalIndex < this.entered) this.frauds[k] += change;
    }
  }

  /** Features at time t (after `advance(t)`); the transaction itself is not in its terminal's windows. */
  write(out: Float32Array): void {
    for (let k = 0; k < this.frauds.length; k++) {
      const count = this.entered - this.firstInWindow[k];
      const column = this.plan.terminalColumn(k);
      out[column] = count;
      out[column + 1] = count > 0 ? this.frauds[k] / count : 0;
    }
  }

  add(record: TransactionRecord): number {
    return this.rows.push(record);
  }
}

interface PendingLabel {
  record: TransactionRecord;
  fraud: 0 | 1;
  reportedAtMs: number;
  arrival: number;
}

/** A binary min-heap of labels not yet in effect, by (reportedAt, arrival). */
class PendingLabels {
  private heap: PendingLabel[] = [];

  get size(): number {
    return this.heap.length;
  }

  private static before(a: PendingLabel, b: PendingLabel): boolean {
    return a.reportedAtMs < b.reportedAtMs || (a.reportedAtMs === b.reportedAtMs && a.arrival < b.arrival);
  }

  push(label: PendingLabel): void {
    const heap = this.heap;
    let i = heap.push(label) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!PendingLabels.before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  /** Removes and returns the earliest label if it was reported at or before t. */
  popDue(t: number): PendingLabel | undefined {
    const heap = this.heap;
    if (heap.length === 0 || heap[0].reportedAtMs > t) return undefined;
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && PendingLabels.before(heap[left], heap[smallest])) smallest = left;
        if (right < heap.length && PendingLabels.before(heap[right], heap[smallest])) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest], heap[i]];
        i = smallest;
      }
    }
    return top;
  }
}

/**
 * What serving keeps to compute features: each customer's and terminal's transactions of the
 * last delay + max window days (older ones are in no window and are dropped as time moves on,
 * with the customers and terminals left with none), and the labels not yet in effect.
 * Amortised O(windows) per transaction and label.
 */
export class OnlineFeatureState {
  readonly names: string[];
  private readonly plan: FeaturePlan;
  private readonly customers = new Map<string, CustomerHistory>();
  private readonly terminals = new Map<string, TerminalHistory>();
  private readonly byId = new Map<string, TransactionRecord>();
  private readonly retained = new IndexedQueue<TransactionRecord>();
  private readonly pending = new PendingLabels();
  private clockMs = -Infinity;
  private labelArrivals = 0;

  constructor(options: FeatureOptions = DEFAULT_FEATURE_OPTIONS) {
    this.plan = featurePlan(options);
    this.names = featureNames(options);
  }

  /** Whether a transaction of this id is held (scored, and not yet forgotten). */
  holds(transactionId: string): boolean {
    return this.byId.has(transactionId);
  }

  /**
   * Features of a transaction at its time, then records it. Transactions must arrive in
   * non-decreasing time; at equal times, in the order batch would see them (input order).
   * Returns the values in `names` order. Throws on an out-of-order time or an id still held.
   */
  score(tx: OnlineTransaction): Float32Array {
    const t = tx.timeMs;
    if (!Number.isFinite(t)) throw new RangeError(`transaction ${tx.transactionId}: timeMs ${t} is not a finite number`);
    if (t < this.clockMs) {
      throw new RangeError(`transaction ${tx.transactionId} at ${new Date(t).toISOString()} arrived after one at ${new Date(this.clockMs).toISOString()}: times must not decrease`);
    }
    if (!Number.isFinite(tx.amount)) throw new RangeError(`transaction ${tx.transactionId}: amount ${tx.amount} is not a finite number`);
    if (this.byId.has(tx.transactionId)) throw new Error(`transaction ${tx.transactionId} was already scored`);
    this.clockMs = t;
    for (let due = this.pending.popDue(t); due; due = this.pending.popDue(t)) this.applyLabel(due);
    this.forgetBefore(t);

    let customer = this.customers.get(tx.customerId);
    if (!customer) this.customers.set(tx.customerId, (customer = new CustomerHistory(tx.customerId, this.plan)));
    let terminal = this.terminals.get(tx.terminalId);
    if (!terminal) this.terminals.set(tx.terminalId, (terminal = new TerminalHistory(tx.terminalId, this.plan)));
    const out = new Float32Array(this.plan.featureCount);
    writeTransactionFeatures(out, 0, t, tx.amount);
    customer.expire(t);
    terminal.advance(t);
    terminal.write(out);
    const record: TransactionRecord = {
      id: tx.transactionId,
      timeMs: t,
      amount: tx.amount,
      knownFraud: 0,
      labelReportedAtMs: -Infinity,
      customer,
      terminal,
      terminalIndex: -1,
      retained: true,
    };
    customer.addAndWrite(record, out);
    record.terminalIndex = terminal.add(record);
    this.retained.push(record);
    this.byId.set(record.id, record);
    return out;
  }

  /**
   * A label arriving (chargeback, investigator verdict). It counts for transactions scored at or
   * after its reportedAt; of two labels for one transaction the later reported one stands. A label
   * must arrive before any transaction at or after its reportedAt is scored to count for it (batch
   * counts it from reportedAt on). Returns false, and changes nothing, for a transaction id never
   * scored or already dropped (it is in no window any more). A label reported once its transaction
   * has left every window is accepted and not kept: it could not change a feature.
   */
  addLabel(label: OnlineLabel): boolean {
    const record = this.byId.get(label.transactionId);
    if (!record) return false;
    if (!Number.isFinite(label.reportedAtMs)) throw new RangeError(`label for ${label.transactionId}: reportedAtMs ${label.reportedAtMs} is not a finite number`);
    if (label.reportedAtMs >= record.timeMs + this.plan.retentionMs) return true;
    const pending: PendingLabel = { record, fraud: label.fraud ? 1 : 0, reportedAtMs: label.reportedAtMs, arrival: this.labelArrivals++ };
    if (label.reportedAtMs <= this.clockMs) this.applyLabel(pending);
    else this.pending.push(pending);
    return true;
  }

  stats(): { customers: number; terminals: number; transactions: number; pendingLabels: number } {
    return { customers: this.customers.size, terminals: this.terminals.size, transactions: this.byId.size, pendingLabels: this.pending.size };
  }

  private applyLabel({ record, fraud, reportedAtMs }: PendingLabel): void {
    if (!record.retained || reportedAtMs < record.labelReportedAtMs) return;
    record.labelReportedAtMs = reportedAtMs;
    record.terminal.setKnownFraud(record, fraud);
  }

  /**
   * Drops the transactions at or before t - (delay + max window): they are in no window at t
   * or later. Their customer's and terminal's windows are moved to t first, which is what the
   * next score there would do, so the sums see the same operations in the same order.
   */
  private forgetBefore(t: number): void {
    const horizon = t - this.plan.retentionMs;
    while (this.retained.size > 0 && this.retained.at(this.retained.first).timeMs <= horizon) {
      const record = this.retained.shift();
      record.customer.expire(t);
      record.terminal.advance(t);
      record.customer.rows.shift();
      record.terminal.rows.shift();
      if (record.customer.rows.size === 0) this.customers.delete(record.customer.id);
      if (record.terminal.rows.size === 0) this.terminals.delete(record.terminal.id);
      record.retained = false;
      this.byId.delete(record.id);
    }
  }
}

/** Dense ints for string ids, in order of first appearance (what TransactionColumns expects). */
export class DictionaryEncoder {
  private readonly codes = new Map<string, number>();
  private readonly decoded: string[] = [];

  encode(id: string): number {
    let code = this.codes.get(id);
    if (code === undefined) {
      code = this.decoded.length;
      this.codes.set(id, code);
      this.decoded.push(id);
    }
    return code;
  }

  /** The id of each code. */
  get ids(): readonly string[] {
    return this.decoded;
  }

  get size(): number {
    return this.decoded.length;
  }
}
