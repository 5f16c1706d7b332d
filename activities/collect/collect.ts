/**
 * collect: imports new raw files from `raw/<dataset>/events/` into the date-partitioned
 * Arrow dataset `datasets/<dataset>/events/date=YYYY-MM-DD/<sha256>.arrow`.
 *
 * Incremental by watermark: the state object `state/<dataset>/collect.json` lists every
 * ingested file with its ETag, and is swapped with a conditional write, so a crash
 * before the swap only means the next attempt redoes the same work and writes the same
 * content-addressed partitions; two concurrent collects cannot both advance it.
 */
import { tableToIPC } from 'apache-arrow';
import { tableFromColumns, putTable } from '../storage/arrow-io';
import { PreconditionFailedError, stableJson, type ObjectStore } from '../storage/object-store';
import { parseRawFile, readRawFile, InvalidInputFileError } from './raw-files';
import {
  CATALOGUE_SCHEMA,
  CatalogueRow,
  EVENT_SCHEMA,
  RawEventRow,
  REQUIRED_EVENT_COLUMNS,
  describeProblem,
  type RawEvent,
  type RowProblem,
} from '../../schemas/events';
import { QUARANTINE_SCHEMA, type CollectResult, type DatasetSnapshot } from '../../schemas/steps';
import type { ArtifactRef } from '../../schemas/artifacts';
import type { Logger } from 'pino';

export interface CollectOptions {
  dataset: string;
  maxBadRowFraction: number;
  /** Rows held in memory before the largest day is written out, whatever the file's size. */
  maxBufferedRows?: number;
  onFile?: (done: number, total: number, key: string) => void;
}

export class TooManyBadRowsError extends Error {
  constructor(file: string, bad: number, total: number, limit: number, examples: RowProblem[]) {
    super(
      `${file}: ${bad} of ${total} rows are invalid (limit ${(limit * 100).toFixed(1)}%); fix the producer or raise maxBadRowFraction. ` +
        `First problems: ${examples.slice(0, 3).map(describeProblem).join(' | ')}`,
    );
    this.name = 'TooManyBadRowsError';
  }
}

export const rawEventsPrefix = (dataset: string) => `raw/${dataset}/events/`;
export const rawCataloguePrefix = (dataset: string) => `raw/${dataset}/catalogue/`;
const statePath = (dataset: string) => `state/${dataset}/collect.json`;

function eventsTable(rows: RawEvent[]) {
  return tableFromColumns(EVENT_SCHEMA, {
    user_id: rows.map((r) => r.user_id),
    item_id: rows.map((r) => r.item_id),
    event_type: rows.map((r) => r.event_type),
    timestamp: rows.map((r) => r.timestamp),
    session_id: rows.map((r) => r.session_id),
    price: rows.map((r) => r.price),
    category: rows.map((r) => r.category),
  });
}

const MAX_BUFFERED_ROWS = 50_000;

/**
 * Groups one file's rows by UTC date into content-addressed partitions. When
 * `maxBufferedRows` are held, the largest day is written out, so a day of a big file
 * may span several partitions. Rows arrive in file order, so a retry writes the same ones.
 */
class PartitionWriter {
  private readonly days = new Map<string, RawEvent[]>();
  private buffered = 0;
  private readonly written: ArtifactRef[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly dataset: string,
    private readonly maxBufferedRows: number,
  ) {}

  add(row: RawEvent): Promise<void> | undefined {
    const date = new Date(row.timestamp).toISOString().slice(0, 10);
    const day = this.days.get(date) ?? [];
    day.push(row);
    this.days.set(date, day);
    if (++this.buffered < this.maxBufferedRows) return undefined;
    const [largest] = [...this.days.entries()].reduce((a, b) => (b[1].length > a[1].length ? b : a));
    return this.write(largest);
  }

  async finish(): Promise<ArtifactRef[]> {
    for (const date of [...this.days.keys()].sort()) await this.write(date);
    return this.written;
  }

  private async write(date: string): Promise<void> {
    const rows = this.days.get(date)!;
    this.days.delete(date);
    this.buffered -= rows.length;
    this.written.push(await putTable(this.store, `datasets/${this.dataset}/events/date=${date}`, eventsTable(rows)));
  }
}

export async function collectEvents(store: ObjectStore, log: Logger, options: CollectOptions): Promise<CollectResult> {
  const { dataset } = options;
  const state = await store.getJsonIfExists<DatasetSnapshot>(statePath(dataset));
  const previous: DatasetSnapshot = state?.value ?? { dataset, partitions: [], ingestedFiles: [] };
  const seen = new Set(previous.ingestedFiles.map((f) => `${f.key}|${f.etag}`));

  const listed = await store.list(rawEventsPrefix(dataset));
  const pending = listed.filter((o) => !seen.has(`${o.key}|${o.etag}`));
  const partitions: ArtifactRef[] = [];
  const ingested: DatasetSnapshot['ingestedFiles'] = [];
  const problems: RowProblem[] = [];
  const vanished: string[] = [];
  let rowsImported = 0;

  for (const [index, object] of pending.entries()) {
    options.onFile?.(index, pending.length, object.key);
    const found = await store.getStreamWithEtag(object.key);
    if (!found) {
      // Deleted between listing and reading: nothing to import; it is not marked as seen.
      log.warn({ key: object.key }, 'raw file disappeared before it could be read; skipped');
      vanished.push(object.key);
      continue;
    }
    const writer = new PartitionWriter(store, dataset, options.maxBufferedRows ?? MAX_BUFFERED_ROWS);
    const parsed = await readRawFile(object.key, found.body, RawEventRow, REQUIRED_EVENT_COLUMNS, (row) => writer.add(row));
    const bad = parsed.problems.length;
    if (parsed.totalRows > 0 && bad / parsed.totalRows > options.maxBadRowFraction) {
      throw new TooManyBadRowsError(object.key, bad, parsed.totalRows, options.maxBadRowFraction, parsed.problems);
    }
    if (parsed.validRows === 0 && bad === 0) throw new InvalidInputFileError(object.key, 'the file has no rows');
    partitions.push(...(await writer.finish()));
    problems.push(...parsed.problems);
    rowsImported += parsed.validRows;
    ingested.push({ key: object.key, etag: found.etag, rows: parsed.validRows, quarantined: bad });
    log.info({ key: object.key, rows: parsed.validRows, quarantined: bad }, 'imported raw file');
  }

  let quarantine: ArtifactRef | undefined;
  if (problems.length > 0) {
    const table = tableFromColumns(QUARANTINE_SCHEMA, {
      file: problems.map((p) => p.file),
      row: problems.map((p) => p.row),
      field: problems.map((p) => p.field),
      message: problems.map((p) => p.message),
      raw: problems.map((p) => p.raw),
    });
    quarantine = await putTable(store, `quarantine/${dataset}`, table);
  }

  const snapshot: DatasetSnapshot = {
    dataset,
    partitions: [...previous.partitions, ...partitions],
    ingestedFiles: [...previous.ingestedFiles, ...ingested],
    catalogue: (await collectCatalogue(store, dataset, options.maxBadRowFraction)) ?? previous.catalogue,
  };
  const snapshotRef = await store.putJsonArtifact(`datasets/${dataset}/snapshots`, snapshot);
  if (ingested.length > 0 || snapshot.catalogue?.sha256 !== previous.catalogue?.sha256) {
    try {
      await store.putIfMatch(statePath(dataset), stableJson(snapshot), state?.etag ?? null);
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        // Another collect advanced the watermark first; a retry re-reads it and skips its files.
        throw new Error(`collect state of ${dataset} changed concurrently; retrying`);
      }
      throw error;
    }
  }
  return {
    snapshot: snapshotRef,
    newFiles: ingested.map((f) => f.key),
    skippedFiles: listed.length - pending.length,
    vanishedFiles: vanished,
    rowsImported,
    totalRows: snapshot.ingestedFiles.reduce((n, f) => n + f.rows, 0),
    partitions: snapshot.partitions.length,
    quarantinedRows: problems.length,
    quarantine,
  };
}

/**
 * The item catalogue is a full export, not a stream of changes: the newest file under
 * `raw/<dataset>/catalogue/` is validated and stored whole (undefined when there is none).
 */
async function collectCatalogue(store: ObjectStore, dataset: string, maxBadRowFraction: number): Promise<ArtifactRef | undefined> {
  const files = await store.list(rawCataloguePrefix(dataset));
  const newest = files.sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || (a.key < b.key ? -1 : 1)).pop();
  const found = newest && (await store.getWithEtag(newest.key));
  if (!newest || !found) return undefined;
  const parsed = await parseRawFile(newest.key, found.bytes, CatalogueRow, ['item_id']);
  if (parsed.problems.length / Math.max(1, parsed.totalRows) > maxBadRowFraction) {
    throw new TooManyBadRowsError(newest.key, parsed.problems.length, parsed.totalRows, maxBadRowFraction, parsed.problems);
  }
  const rows = parsed.rows;
  return putTable(
    store,
    `datasets/${dataset}/catalogue`,
    tableFromColumns(CATALOGUE_SCHEMA, {
      item_id: rows.map((r) => r.item_id),
      title: rows.map((r) => r.title),
      category: rows.map((r) => r.category),
      price: rows.map((r) => r.price),
    }),
  );
}

/** Arrow IPC bytes of validated events, for uploads that arrive already typed. */
export function eventsToArrowBytes(rows: RawEvent[]): Uint8Array {
  return tableToIPC(eventsTable(rows), 'file');
}
