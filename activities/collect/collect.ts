/**
 * collect: imports new raw files of each of the kind's sources, `raw/<dataset>/<source>/`.
 * An events source goes into the date-partitioned Arrow dataset
 * `datasets/<dataset>/<source>/date=YYYY-MM-DD/<sha256>.arrow`; a table source (a full
 * export such as a catalogue) is replaced by its newest file, `datasets/<dataset>/<source>/<sha256>.arrow`.
 *
 * Incremental by watermark: the state object `state/<dataset>/<source>/collect.json` lists every
 * ingested file with its ETag, and is swapped with a conditional write, so a crash
 * before the swap only means the next attempt redoes the same work and writes the same
 * content-addressed partitions; two concurrent collects cannot both advance it. A file
 * uploaded again under the same key with other content replaces what it contributed: the
 * partitions its earlier version wrote leave the dataset, and that version is kept in the
 * state's `replacedFiles`.
 *
 * Personal columns (a source's `personal`) are protected before anything is written: ids
 * become keyed pseudonyms when STORELOOP_PSEUDONYM_KEY is set, and free text is masked.
 * With the key set, a raw file of such a source is deleted once its protected rows are
 * stored and the watermark records it, so no customer id stays in the clear; a retry deletes
 * what a crash left.
 */
import { tableToIPC } from 'apache-arrow';
import { tableFromColumns, putTable } from '../storage/arrow-io';
import { PreconditionFailedError, stableJson, type ObjectStore } from '../storage/object-store';
import { parseRawFile, readRawFile, InvalidInputFileError } from './raw-files';
import { describeProblem, type RowProblem } from '../../schemas/events';
import { QUARANTINE_SCHEMA } from '../../schemas/quarantine';
import { personalColumns, RowProtector, UndeclaredPersonalColumnError, undeclaredPersonalColumns, type PersonalField } from '../privacy/personal-data';
import { PseudonymKeyError, pseudonymiserFromEnv, type Pseudonymiser } from '../privacy/pseudonyms';
import type { CollectResult, DataPrivacy, DatasetSnapshot, IngestedFile, SourceState } from '../../schemas/steps';
import type { ArtifactRef } from '../../schemas/artifacts';
import type { AnySourceContract, SourceContract } from '../model-kinds/contract';
import type { Logger } from 'pino';

export interface CollectOptions {
  dataset: string;
  sources: readonly AnySourceContract[];
  maxBadRowFraction: number;
  /** The longest CSV record or JSON line a file may have (raw-files.ts). */
  maxRecordChars?: number;
  /** Rows held in memory before the largest day is written out, whatever the file's size. */
  maxBufferedRows?: number;
  /** Called every PROGRESS_EVERY_ROWS valid rows and after each file, with the valid rows so far in this collect. */
  onProgress?: (rowsAccepted: number, file: string) => void;
  /** How identifiers are pseudonymised; from STORELOOP_PSEUDONYM_KEY unless given. */
  pseudonyms?: Pseudonymiser;
}

const PROGRESS_EVERY_ROWS = 10_000;

export class TooManyBadRowsError extends Error {
  constructor(file: string, bad: number, total: number, limit: number, examples: RowProblem[], quarantine: ArtifactRef) {
    super(
      `${file}: ${bad} of ${total} rows are invalid (limit ${(limit * 100).toFixed(1)}%); fix the producer or raise maxBadRowFraction. ` +
        `Every bad row is in ${quarantine.uri}. First problems: ${examples.slice(0, 3).map(describeProblem).join(' | ')}`,
    );
    this.name = 'TooManyBadRowsError';
  }
}

/** The rejected rows, in file order, as a quarantine table `quarantine/<dataset>/<sha256>.arrow`. */
async function putQuarantine(store: ObjectStore, dataset: string, problems: RowProblem[]): Promise<ArtifactRef> {
  const table = tableFromColumns(QUARANTINE_SCHEMA, {
    file: problems.map((p) => p.file),
    row: problems.map((p) => p.row),
    field: problems.map((p) => p.field),
    message: problems.map((p) => p.message),
    raw: problems.map((p) => p.raw),
  });
  return putTable(store, `quarantine/${dataset}`, table);
}

/** Refuses a file with too many bad rows (problems in file order), after quarantining all of them: nothing rejected goes unrecorded. */
async function refuseMostlyBadFile(store: ObjectStore, dataset: string, file: string, problems: RowProblem[], totalRows: number, limit: number): Promise<never> {
  throw new TooManyBadRowsError(file, problems.length, totalRows, limit, problems, await putQuarantine(store, dataset, problems));
}

export const rawPrefix = (dataset: string, source: string) => `raw/${dataset}/${source}/`;
export const sourceStatePath = (dataset: string, source: string) => `state/${dataset}/${source}/collect.json`;

type AnySource = AnySourceContract;

function sourceTable(source: AnySource, rows: unknown[]) {
  return tableFromColumns(source.arrow, source.columns(rows));
}

const MAX_BUFFERED_ROWS = 50_000;

/**
 * Groups one file's rows by UTC date into content-addressed partitions. When
 * `maxBufferedRows` are held, the largest day is written out, so a day of a big file
 * may span several partitions. Rows arrive in file order, so a retry writes the same ones.
 */
class PartitionWriter {
  private readonly days = new Map<string, unknown[]>();
  private buffered = 0;
  private readonly written: ArtifactRef[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly dataset: string,
    private readonly source: AnySource,
    private readonly maxBufferedRows: number,
  ) {}

  add(row: unknown): Promise<void> | undefined {
    const date = new Date(this.source.timeOf!(row)).toISOString().slice(0, 10);
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
    this.written.push(await putTable(this.store, `datasets/${this.dataset}/${this.source.name}/date=${date}`, sourceTable(this.source, rows)));
  }
}

interface SourceOutcome {
  state: SourceState;
  rawFilesDeleted: number;
  newFiles: string[];
  skippedFiles: number;
  vanishedFiles: string[];
  replacedFiles: string[];
  rowsImported: number;
  problems: RowProblem[];
}

/**
 * The next state: the newly ingested files appended, and for each one whose key was ingested
 * before (a re-upload with other content), the earlier version and the partitions only it
 * wrote removed. An earlier version from before partitions were recorded per file cannot
 * be taken out; its rows stay, with a warning.
 */
export function withReplacements(previous: SourceState, ingested: (IngestedFile & { uploadedAt: string })[], partitions: ArtifactRef[], log: Logger): SourceState {
  const reuploaded = new Map(ingested.map((f) => [f.key, f.uploadedAt]));
  const replaced = previous.ingestedFiles.filter((f) => reuploaded.has(f.key) && f.partitions !== undefined);
  for (const f of previous.ingestedFiles) {
    if (reuploaded.has(f.key) && f.partitions === undefined) log.warn({ key: f.key }, 're-uploaded file was ingested before collect recorded its partitions; its earlier rows stay');
  }
  const kept = previous.ingestedFiles.filter((f) => !replaced.includes(f));
  // A partition two files wrote (the same rows) stays while either of them does.
  const stillWritten = new Set([...kept, ...ingested].flatMap((f) => f.partitions ?? []));
  const dropped = new Set(replaced.flatMap((f) => f.partitions!).filter((key) => !stillWritten.has(key)));
  return {
    partitions: [...previous.partitions.filter((p) => !dropped.has(p.key)), ...partitions],
    ingestedFiles: [...kept, ...ingested.map(({ uploadedAt: _, ...f }) => f)],
    // Replaced when its new version was uploaded: a retried collect records the same time.
    ...(replaced.length > 0 || previous.replacedFiles ? { replacedFiles: [...(previous.replacedFiles ?? []), ...replaced.map((f) => ({ ...f, replacedAt: reuploaded.get(f.key)! }))] } : {}),
  };
}

const hasIdentifiers = (source: AnySource) => personalColumns(source.personal, 'identifier').length > 0;

/**
 * Refuses to mix pseudonyms of one key with ids hashed by another key, or stored as given:
 * they would never join. A source without identifier columns has nothing to mix.
 */
function checkPseudonymKey(dataset: string, source: AnySource, previous: SourceState, pseudonyms: Pseudonymiser): void {
  if (!hasIdentifiers(source) || previous.ingestedFiles.length === 0) return;
  const before = previous.pseudonymKey ?? null;
  const now = pseudonyms.fingerprint();
  if (before === now) return;
  const describe = (fingerprint: string | null) => (fingerprint ? `pseudonym key ${fingerprint}` : 'ids stored as given (no STORELOOP_PSEUDONYM_KEY)');
  throw new PseudonymKeyError(
    `${dataset}/${source.name} was collected with ${describe(before)}, but this worker has ${describe(now)}: the ids would not join. ` +
      `Set the key the dataset was collected with, or collect into a new dataset`,
  );
}

/** Deletes the raw files the state records as ingested: their protected rows are stored. */
async function deleteIngestedRawFiles(store: ObjectStore, log: Logger, listed: { key: string; etag: string }[], state: SourceState): Promise<number> {
  const ingested = new Set(state.ingestedFiles.map((f) => `${f.key}|${f.etag}`));
  const done = listed.filter((o) => ingested.has(`${o.key}|${o.etag}`));
  for (const object of done) await store.delete(object.key);
  if (done.length > 0) log.info({ files: done.length }, 'deleted collected raw files holding personal data (their rows are stored pseudonymised)');
  return done.length;
}

/** Imports the new files of one events source and advances its watermark. */
async function collectEventSource(store: ObjectStore, log: Logger, source: AnySource, options: CollectOptions, pseudonyms: Pseudonymiser, progress: { rowsAccepted: number }): Promise<SourceOutcome> {
  const { dataset } = options;
  const statePath = sourceStatePath(dataset, source.name);
  const stored = await store.getJsonIfExists<SourceState>(statePath);
  const previous: SourceState = stored?.value ?? { partitions: [], ingestedFiles: [] };
  checkPseudonymKey(dataset, source, previous, pseudonyms);
  const protector = new RowProtector(source.personal, pseudonyms);
  const seen = new Set(previous.ingestedFiles.map((f) => `${f.key}|${f.etag}`));

  const listed = await store.list(rawPrefix(dataset, source.name));
  const pending = listed.filter((o) => !seen.has(`${o.key}|${o.etag}`));
  const partitions: ArtifactRef[] = [];
  const ingested: (IngestedFile & { uploadedAt: string })[] = [];
  const problems: RowProblem[] = [];
  const vanished: string[] = [];
  let rowsImported = 0;

  for (const object of pending) {
    const found = await store.getStreamWithEtag(object.key);
    if (!found) {
      // Deleted between listing and reading: nothing to import; it is not marked as seen.
      log.warn({ key: object.key }, 'raw file disappeared before it could be read; skipped');
      vanished.push(object.key);
      continue;
    }
    const writer = new PartitionWriter(store, dataset, source, options.maxBufferedRows ?? MAX_BUFFERED_ROWS);
    const parsed = await readRawFile(object.key, found.body, source.row, source.required, (row) => {
      if (++progress.rowsAccepted % PROGRESS_EVERY_ROWS === 0) options.onProgress?.(progress.rowsAccepted, object.key);
      return writer.add(protector.protect(row));
    }, { maxRecordChars: options.maxRecordChars, rejectedRaw: (record, raw) => protector.quarantined(record, raw) });
    options.onProgress?.(progress.rowsAccepted, object.key);
    const bad = parsed.problems.length;
    if (parsed.totalRows > 0 && bad / parsed.totalRows > options.maxBadRowFraction) {
      await refuseMostlyBadFile(store, dataset, object.key, parsed.problems, parsed.totalRows, options.maxBadRowFraction);
    }
    if (parsed.validRows === 0 && bad === 0) throw new InvalidInputFileError(object.key, 'the file has no rows');
    const written = await writer.finish();
    partitions.push(...written);
    problems.push(...parsed.problems);
    rowsImported += parsed.validRows;
    ingested.push({ key: object.key, etag: found.etag, rows: parsed.validRows, quarantined: bad, partitions: written.map((p) => p.key), uploadedAt: object.lastModified.toISOString() });
    log.info({ key: object.key, rows: parsed.validRows, quarantined: bad }, 'imported raw file');
  }

  const state: SourceState = { ...withReplacements(previous, ingested, partitions, log), ...(hasIdentifiers(source) ? { pseudonymKey: pseudonyms.fingerprint() } : {}) };
  if (ingested.length > 0) {
    try {
      await store.putIfMatch(statePath, stableJson(state), stored?.etag ?? null);
    } catch (error) {
      if (error instanceof PreconditionFailedError) {
        // Another collect advanced the watermark first; a retry re-reads it and skips its files.
        throw new Error(`collect state of ${dataset}/${source.name} changed concurrently; retrying`);
      }
      throw error;
    }
  }
  const replacedKeys = new Set((state.replacedFiles ?? []).slice((previous.replacedFiles ?? []).length).map((f) => f.key));
  const rawFilesDeleted = pseudonyms.enabled && protector.active ? await deleteIngestedRawFiles(store, log, listed, state) : 0;
  return { state, rawFilesDeleted, newFiles: ingested.filter((f) => !replacedKeys.has(f.key)).map((f) => f.key), replacedFiles: [...replacedKeys], skippedFiles: listed.length - pending.length, vanishedFiles: vanished, rowsImported, problems };
}

/** Collects every source of a kind into one snapshot of the dataset. */
export async function collectSources(store: ObjectStore, log: Logger, options: CollectOptions): Promise<CollectResult> {
  const { dataset } = options;
  const snapshot: DatasetSnapshot = { dataset, sources: {}, tables: {} };
  const outcomes: SourceOutcome[] = [];
  const progress = { rowsAccepted: 0 };
  const pseudonyms = options.pseudonyms ?? pseudonymiserFromEnv();
  for (const source of options.sources) {
    const undeclared = undeclaredPersonalColumns(source.arrow.fields.map((f) => f.name), source.personal, source.notPersonal);
    if (pseudonyms.enabled && undeclared.length > 0) throw new UndeclaredPersonalColumnError(`${dataset}/${source.name}`, undeclared);
    if (source.mode === 'table') {
      const table = await collectTable(store, dataset, source, options);
      if (table) snapshot.tables[source.name] = table;
      continue;
    }
    const outcome = await collectEventSource(store, log, source, options, pseudonyms, progress);
    snapshot.sources[source.name] = outcome.state;
    outcomes.push(outcome);
  }
  const problems = outcomes.flatMap((o) => o.problems);
  let quarantine: ArtifactRef | undefined;
  if (problems.length > 0) quarantine = await putQuarantine(store, dataset, problems);
  const snapshotRef = await store.putJsonArtifact(`datasets/${dataset}/snapshots`, snapshot);
  const states = Object.values(snapshot.sources);
  return {
    snapshot: snapshotRef,
    newFiles: outcomes.flatMap((o) => o.newFiles),
    skippedFiles: outcomes.reduce((n, o) => n + o.skippedFiles, 0),
    vanishedFiles: outcomes.flatMap((o) => o.vanishedFiles),
    replacedFiles: outcomes.flatMap((o) => o.replacedFiles),
    rowsImported: outcomes.reduce((n, o) => n + o.rowsImported, 0),
    totalRows: states.reduce((n, s) => n + s.ingestedFiles.reduce((m, f) => m + f.rows, 0), 0),
    partitions: states.reduce((n, s) => n + s.partitions.length, 0),
    quarantinedRows: problems.length,
    quarantine,
    privacy: dataPrivacy(options.sources, pseudonyms, outcomes.reduce((n, o) => n + o.rawFilesDeleted, 0)),
  };
}

function dataPrivacy(sources: readonly AnySource[], pseudonyms: Pseudonymiser, rawFilesDeleted: number): DataPrivacy {
  const columns = (how: PersonalField) => sources.flatMap((s) => personalColumns(s.personal, how).map((c) => `${s.name}.${c}`));
  const identifiers = columns('identifier');
  return { pseudonymised: pseudonyms.enabled ? identifiers : [], inTheClear: pseudonyms.enabled ? [] : identifiers, masked: columns('free-text'), rawFilesDeleted };
}

/**
 * A table source is a full export, not a stream of changes: the newest file under
 * `raw/<dataset>/<source>/` is validated and stored whole (undefined when there is none).
 */
async function collectTable(store: ObjectStore, dataset: string, source: AnySource, { maxBadRowFraction, maxRecordChars }: CollectOptions): Promise<ArtifactRef | undefined> {
  const files = await store.list(rawPrefix(dataset, source.name));
  const newest = files.sort((a, b) => a.lastModified.getTime() - b.lastModified.getTime() || (a.key < b.key ? -1 : 1)).pop();
  const found = newest && (await store.getWithEtag(newest.key));
  if (!newest || !found) return undefined;
  const parsed = await parseRawFile(newest.key, found.bytes, source.row, source.required, { maxRecordChars });
  if (parsed.problems.length / Math.max(1, parsed.totalRows) > maxBadRowFraction) {
    await refuseMostlyBadFile(store, dataset, newest.key, parsed.problems, parsed.totalRows, maxBadRowFraction);
  }
  return putTable(store, `datasets/${dataset}/${source.name}`, sourceTable(source, parsed.rows));
}

/** Arrow IPC bytes of validated rows of a source, for uploads that arrive already typed. */
export function rowsToArrowBytes<Row>(source: SourceContract<Row>, rows: Row[]): Uint8Array {
  return tableToIPC(tableFromColumns(source.arrow, source.columns(rows)), 'file');
}
