/**
 * Buffers what the serving side logs (the kind's feedback rows: impressions and outcomes,
 * scored transactions and labels, ...) and writes them to
 * `<prefix>date=YYYY-MM-DD/<sha256>.arrow` (Arrow IPC file, the kind's feedback schema), one file per
 * date per batch. The prefix is `feedback/<model>/`, where the feedback step reads them,
 * unless traffic that must not count (a benchmark) is sent elsewhere.
 *
 * - A batch is written when `batchRows` rows are waiting, every `flushIntervalMs`, and on close.
 * - The buffer holds at most `capacityRows` rows not yet in S3 (waiting or being written).
 *   When it is full, append() waits for a flush to make room: callers slow down, nothing is dropped.
 * - A batch's rows are fixed when it is cut and its objects are named by their content, so a
 *   retried write (S3 unavailable, a lost response) puts the same bytes under the same keys.
 * - A batch is encoded a slice of rows at a time, giving the event loop back between slices:
 *   building Arrow columns costs about 10-20 µs a row, so 1,000 rows encoded at once stalled
 *   every request in flight for 10-40 ms (bench:serving's p99).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { RecordBatchFileWriter } from 'apache-arrow';
import { tableFromColumns } from '../activities/storage/arrow-io';
import type { Schema } from 'apache-arrow';
import type { ObjectStore } from '../activities/storage/object-store';
import type { Logger } from 'pino';

/** One row of the kind's feedback schema; every kind's rows carry `timestamp` (epoch ms), which picks the date partition. */
export type FeedbackRecord = Record<string, unknown> & { timestamp: number };

export interface FeedbackLogOptions {
  store: ObjectStore;
  schema: Schema;
  /** Ends with '/'; feedbackPrefix(model) for real traffic. */
  prefix: string;
  batchRows: number;
  flushIntervalMs: number;
  capacityRows: number;
  log: Logger;
  /** Longest pause between retries of a failed write. */
  maxRetryDelayMs?: number;
}

export interface FeedbackLogStats {
  bufferedRows: number;
  capacityRows: number;
  writtenRows: number;
  writtenFiles: number;
  failedWrites: number;
}

export const feedbackPrefix = (model: string) => `feedback/${model}/`;

/** Rows encoded between two turns of the event loop: about 1-2 ms of work. */
const ENCODE_SLICE_ROWS = 100;

/** An Arrow IPC file of `rows` (one record batch per slice), built without holding the event loop for long. */
async function encodeCooperatively(schema: Schema, rows: FeedbackRecord[]): Promise<Uint8Array> {
  const writer = new RecordBatchFileWriter();
  for (let start = 0; start < rows.length; start += ENCODE_SLICE_ROWS) {
    const slice = rows.slice(start, start + ENCODE_SLICE_ROWS);
    const columns = Object.fromEntries(schema.fields.map((f) => [f.name, slice.map((r) => r[f.name] ?? null)]));
    writer.write(tableFromColumns(schema, columns).batches[0]);
    await yieldToEventLoop();
  }
  writer.finish();
  return writer.toUint8Array(true);
}

export class FeedbackLog {
  private waiting: FeedbackRecord[] = [];
  /** Rows accepted but not yet in S3: the waiting ones plus the batch being written. */
  private unwritten = 0;
  private roomWaiters: (() => void)[] = [];
  private draining: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  /** Appends in progress, some perhaps waiting for room: close() waits for them too. */
  private appending = 0;
  private readonly stats = { writtenRows: 0, writtenFiles: 0, failedWrites: 0 };

  constructor(private readonly options: FeedbackLogOptions) {
    if (options.batchRows > options.capacityRows) throw new Error('feedback batchRows must not exceed capacityRows');
    if (!options.prefix.endsWith('/')) throw new Error(`feedback prefix "${options.prefix}" must end with "/"`);
    this.timer = setInterval(() => this.flushSoon(), options.flushIntervalMs);
  }

  /** Accepts rows once there is room for them; resolves when they are buffered, not yet written. */
  async append(rows: FeedbackRecord[]): Promise<void> {
    if (this.closed) throw new Error('the feedback log is closed');
    if (rows.length > this.options.capacityRows) throw new Error(`${rows.length} feedback rows do not fit a buffer of ${this.options.capacityRows}`);
    this.appending++;
    try {
      while (this.unwritten + rows.length > this.options.capacityRows) {
        this.flushSoon();
        await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      }
      this.waiting.push(...rows);
      this.unwritten += rows.length;
      if (this.waiting.length >= this.options.batchRows) this.flushSoon();
    } finally {
      this.appending--;
    }
  }

  /** Refuses new rows, then writes every row accepted, including those of appends still waiting for room. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    while (this.waiting.length > 0 || this.draining || this.appending > 0) {
      this.flushSoon();
      // A woken append needs a turn of the event loop to add its rows.
      await (this.draining ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  snapshot(): FeedbackLogStats {
    return { bufferedRows: this.unwritten, capacityRows: this.options.capacityRows, ...this.stats };
  }

  private flushSoon(): void {
    if (this.draining || this.waiting.length === 0) return;
    this.draining = this.drain().finally(() => (this.draining = undefined));
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, this.options.batchRows);
      await this.writeUntilStored(batch);
      this.unwritten -= batch.length;
      for (const wake of this.roomWaiters.splice(0)) wake();
    }
  }

  private async writeUntilStored(batch: FeedbackRecord[]): Promise<void> {
    const maxDelay = this.options.maxRetryDelayMs ?? 5000;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.write(batch);
        return;
      } catch (error) {
        this.stats.failedWrites++;
        const delay = Math.min(maxDelay, 100 * 2 ** attempt);
        this.options.log.warn({ err: error, rows: batch.length, attempt, retryInMs: delay }, 'feedback batch write failed; retrying the same batch');
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async write(batch: FeedbackRecord[]): Promise<void> {
    const byDate = new Map<string, FeedbackRecord[]>();
    for (const row of batch) {
      const date = new Date(row.timestamp).toISOString().slice(0, 10);
      const rows = byDate.get(date) ?? [];
      rows.push(row);
      byDate.set(date, rows);
    }
    for (const [date, rows] of byDate) {
      const bytes = await encodeCooperatively(this.options.schema, rows);
      await this.options.store.putArtifact(`${this.options.prefix}date=${date}`, bytes, 'arrow', { rows: rows.length });
    }
    // Counted once the whole batch is stored, so a retried batch is not counted twice.
    this.stats.writtenRows += batch.length;
    this.stats.writtenFiles += byDate.size;
  }
}
