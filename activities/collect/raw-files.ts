/**
 * Reads one raw input file (CSV, JSONL, Arrow IPC or Parquet, optionally gzip-compressed) as a
 * stream and validates every row against its contract, handing valid rows to the caller
 * one at a time, so memory does not grow with the file. Row problems are returned, never
 * thrown, so the caller can quarantine them; problems with the file as a whole throw
 * InvalidInputFileError, which names the file and what to fix.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { DataType, RecordBatchReader, tableFromIPC, util, type Decimal, type RecordBatch } from 'apache-arrow';
// Resolves to the package's synchronous-loading Node build through its `node` export condition.
import { ParquetFile } from 'parquet-wasm';
import { parse as csvParser, type Options as CsvOptions } from 'csv-parse';
import type { z } from 'zod';
import { listedValues, quoted, rowProblem, type RowProblem } from '../../schemas/events';
import { DEFAULT_MAX_RECORD_CHARS } from '../../schemas/lifecycle-input';

export class InvalidInputFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'InvalidInputFileError';
  }
}

export interface FileReport {
  problems: RowProblem[];
  /** Rows seen in the file, valid or not. */
  totalRows: number;
  validRows: number;
}

export interface ParsedFile<T> extends FileReport {
  rows: T[];
}

export type RawFormat = 'csv' | 'jsonl' | 'arrow' | 'parquet';

/** Parquet is buffered whole (see parseParquet); bigger exports should be split into several files. */
export const MAX_PARQUET_BYTES = 2 * 1024 ** 3;

export function detectFormat(fileName: string): RawFormat {
  const name = fileName.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.arrow') || name.endsWith('.ipc') || name.endsWith('.feather')) return 'arrow';
  if (name.endsWith('.parquet') || name.endsWith('.pq')) return 'parquet';
  throw new InvalidInputFileError(fileName, 'unknown format: name it .csv, .jsonl, .ndjson, .arrow or .parquet (optionally .gz)');
}

/** A zod object schema: its shape names the columns a file may carry. */
export interface RowSchema<T> {
  shape: Record<string, unknown>;
  safeParse(row: unknown): z.ZodSafeParseResult<T>;
}

/** The columns a file must carry: fields that are not optional in the row schema. */
function requiredColumns(schema: RowSchema<unknown>, required: readonly string[]): void {
  for (const column of required) {
    if (!(column in schema.shape)) throw new Error(`required column ${column} is not in the row schema`);
  }
}

function checkHeader(fileName: string, columns: string[], known: string[], required: readonly string[]): void {
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new InvalidInputFileError(
      fileName,
      `schema drift: missing required column(s) ${missing.join(', ')}; the file has ${listedValues(columns) || 'no columns'}`,
    );
  }
  const extra = columns.filter((c) => !known.includes(c));
  if (extra.length > 0) {
    throw new InvalidInputFileError(
      fileName,
      `schema drift: unknown column(s) ${listedValues(extra)}; expected some of ${known.join(', ')}`,
    );
  }
}

type RowSink<T> = (row: T) => void | Promise<void>;

export interface ReadOptions {
  /** The longest CSV record or JSON line allowed (DEFAULT_MAX_RECORD_CHARS). */
  maxRecordChars?: number;
  /** What a problem keeps of a rejected row (`record`: the object the reader made of it, if any); its first 500 characters unless given. */
  rejectedRaw?: (record: unknown, raw: string) => string;
}

const keepRaw = (_record: unknown, raw: string) => raw.slice(0, 500);

/**
 * Streams `chunks` (an S3 object body, or one buffer) through decompression and the
 * format's parser, validates each row and passes the valid ones to `onRow`, awaiting it
 * when it returns a promise (backpressure for a writer that flushes to S3).
 */
export async function readRawFile<T>(
  fileName: string,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  schema: RowSchema<T>,
  required: readonly string[],
  onRow: RowSink<T>,
  { maxRecordChars = DEFAULT_MAX_RECORD_CHARS, rejectedRaw = keepRaw }: ReadOptions = {},
): Promise<FileReport> {
  requiredColumns(schema, required);
  const format = detectFormat(fileName);
  const known = Object.keys(schema.shape);
  const report: FileReport = { problems: [], totalRows: 0, validRows: 0 };
  const accept = async (row: number, record: unknown, raw: string) => {
    report.totalRows++;
    const parsed = schema.safeParse(record);
    if (!parsed.success) {
      report.problems.push(rowProblem(fileName, row, parsed.error, rejectedRaw(record, raw)));
      return;
    }
    report.validRows++;
    await onRow(parsed.data);
  };
  const file: ParseContext = { fileName, known, required, report, accept, maxRecordChars, rejectedRaw };
  // Counted after decompression, to tell an empty file from one with only blank lines.
  let bytes = 0;
  async function* counted(content: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of content) {
      bytes += chunk.byteLength;
      yield chunk;
    }
  }
  const gzipped = fileName.toLowerCase().endsWith('.gz');
  const parse = { arrow: parseArrow, parquet: parseParquet, jsonl: parseJsonLines, csv: parseCsv }[format];
  const parseContent = (content: AsyncIterable<Buffer>) => parse(file, counted(content));
  try {
    const source = Readable.from(chunks);
    await (gzipped ? pipeline(source, createGunzip(), parseContent) : pipeline(source, parseContent));
  } catch (error) {
    if (error instanceof InvalidInputFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (gzipped && typeof code === 'string' && code.startsWith('Z_')) {
      throw new InvalidInputFileError(fileName, `not a valid gzip file (${(error as Error).message})`);
    }
    throw error;
  }
  if (bytes === 0) throw new InvalidInputFileError(fileName, 'the file is empty');
  // Malformed records are reported while parsing, invalid fields when validated later: file order again.
  report.problems.sort((a, b) => a.row - b.row);
  return report;
}

/** What a format's parser needs: the file's contract, where problems go, and where rows go. */
interface ParseContext {
  fileName: string;
  known: string[];
  required: readonly string[];
  report: FileReport;
  accept: (row: number, record: unknown, raw: string) => Promise<void>;
  maxRecordChars: number;
  rejectedRaw: NonNullable<ReadOptions['rejectedRaw']>;
}

function recordTooLong(fileName: string, what: string, maxRecordChars: number): InvalidInputFileError {
  return new InvalidInputFileError(fileName, `${what} is over ${maxRecordChars.toLocaleString('en-US')} characters (maxRecordChars): is the file really in the format its name says, with one record per line?`);
}

/**
 * Validates every row of one Arrow record batch; returns the last row number used. 64-bit
 * integers and decimals (Parquet's usual money type) become plain numbers, as the row
 * contracts expect.
 */
async function acceptBatch(batch: RecordBatch, previousRow: number, accept: ParseContext['accept']): Promise<number> {
  const decimalScales = new Map(batch.schema.fields.filter((f) => DataType.isDecimal(f.type)).map((f) => [f.name, (f.type as Decimal).scale]));
  let row = previousRow;
  for (const record of batch) {
    row++;
    const plain = record.toJSON() as Record<string, unknown>;
    for (const [k, v] of Object.entries(plain)) {
      if (typeof v === 'bigint') plain[k] = Number(v);
      else if (v !== null && decimalScales.has(k)) plain[k] = util.bigNumToNumber(v as Parameters<typeof util.bigNumToNumber>[0], decimalScales.get(k));
    }
    await accept(row, plain, JSON.stringify(plain, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return row;
}

async function parseArrow({ fileName, known, required, accept }: ParseContext, content: AsyncIterable<Buffer>): Promise<void> {
  let reader;
  try {
    reader = await RecordBatchReader.from(content);
    await reader.open();
  } catch (error) {
    throw new InvalidInputFileError(fileName, `not a readable Arrow IPC file (${(error as Error).message})`);
  }
  if (!reader.schema) throw new InvalidInputFileError(fileName, 'not a readable Arrow IPC file (no schema)');
  checkHeader(fileName, reader.schema.fields.map((f) => f.name), known, required);
  let row = 0;
  for await (const batch of reader) row = await acceptBatch(batch, row, accept);
}

/**
 * Parquet through parquet-wasm (the Rust `parquet` crate as WebAssembly, no native build):
 * it decodes one row group at a time into Arrow, which then takes the Arrow path above, so
 * at most one row group's rows are decoded at once. Parquet's index is in the file's
 * footer, so the (compressed) bytes are buffered whole first, up to MAX_PARQUET_BYTES.
 */
async function parseParquet({ fileName, known, required, accept }: ParseContext, content: AsyncIterable<Buffer>): Promise<void> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of content) {
    size += chunk.byteLength;
    if (size > MAX_PARQUET_BYTES) throw new InvalidInputFileError(fileName, `Parquet file over ${MAX_PARQUET_BYTES / 1024 ** 3} GiB; split the export into several files`);
    chunks.push(chunk);
  }
  if (size === 0) return; // reported as an empty file by the caller
  let file: ParquetFile;
  try {
    file = await ParquetFile.fromFile(new Blob(chunks));
  } catch (error) {
    throw new InvalidInputFileError(fileName, `not a readable Parquet file (${String((error as Error).message ?? error)})`);
  }
  try {
    checkHeader(fileName, tableFromIPC(file.schema().intoIPCStream()).schema.fields.map((f) => f.name), known, required);
    let row = 0;
    for (let group = 0; group < file.metadata().numRowGroups(); group++) {
      let decoded;
      try {
        decoded = tableFromIPC((await file.read({ rowGroups: [group] })).intoIPCStream());
      } catch (error) {
        throw new InvalidInputFileError(fileName, `row group ${group + 1} (after row ${row}) is not readable Parquet (${String((error as Error).message ?? error)})`);
      }
      for (const batch of decoded.batches) row = await acceptBatch(batch, row, accept);
    }
  } finally {
    file.free();
  }
}

/**
 * Lines of a UTF-8 byte stream; invalid UTF-8 becomes U+FFFD, which the field validators
 * reject by row. A line longer than `maxChars` fails the file as soon as it is seen.
 */
async function* textLines(fileName: string, content: AsyncIterable<Buffer>, maxChars: number): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let lineNumber = 0;
  for await (const chunk of content) {
    const lines = (pending + decoder.write(chunk)).split(/\r?\n/);
    pending = lines.pop()!;
    for (const line of lines) {
      lineNumber++;
      if (line.length > maxChars) throw recordTooLong(fileName, `line ${lineNumber}`, maxChars);
      yield line;
    }
    if (pending.length > maxChars) throw recordTooLong(fileName, `line ${lineNumber + 1}`, maxChars);
  }
  pending += decoder.end();
  if (pending !== '') yield pending;
}

async function parseJsonLines({ fileName, report, accept, maxRecordChars, rejectedRaw }: ParseContext, content: AsyncIterable<Buffer>): Promise<void> {
  let lineNumber = 0;
  let nonBlank = 0;
  for await (const line of textLines(fileName, content, maxRecordChars)) {
    lineNumber++;
    if (line.trim() === '') continue;
    nonBlank++;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      report.totalRows++;
      report.problems.push({ file: fileName, row: lineNumber, field: '(row)', message: `malformed JSON: ${quoted((error as Error).message, 200)}`, raw: rejectedRaw(undefined, line) });
      continue;
    }
    await accept(lineNumber, record, line);
  }
  if (nonBlank === 0) throw new InvalidInputFileError(fileName, 'the file has no rows');
}

interface NumberedRecord {
  fields: string[];
  /** Data row, 1-based (the header is row 0). */
  row: number;
}

async function parseCsv({ fileName, known, required, report, accept, maxRecordChars, rejectedRaw }: ParseContext, content: AsyncIterable<Buffer>): Promise<void> {
  // Rows are numbered by record, not by line (a quoted field may span lines), counting the
  // skipped malformed ones; numbered as they are parsed, since consumption runs behind.
  let skipped = 0;
  const options: CsvOptions<NumberedRecord, { record: string[] }> = {
    bom: true,
    skip_empty_lines: true,
    info: true,
    raw: true,
    on_record: (record, context) => ({ fields: record.record, row: context.records + skipped - 1 }),
    max_record_size: maxRecordChars,
    // A malformed line becomes a row problem instead of failing the whole file; an overlong one fails it.
    skip_records_with_error: true,
    on_skip: (error, raw) => {
      if (error?.code === 'CSV_MAX_RECORD_SIZE') {
        const records = Number(error.records ?? 0);
        throw recordTooLong(fileName, records === 0 ? 'the header' : `row ${records + skipped}`, maxRecordChars);
      }
      report.totalRows++;
      const parsedBefore = error && 'records' in error ? Number(error.records) : 0;
      report.problems.push({ file: fileName, row: parsedBefore + skipped, field: '(row)', message: `malformed CSV: ${error ? quoted(error.message, 200) : 'unreadable line'}`, raw: rejectedRaw(undefined, raw ?? '') });
      skipped++;
      return undefined;
    },
  };
  // The untyped overload: csv-parse types on_record's output only together with `columns`.
  const parser = csvParser(options as unknown as CsvOptions);
  let columns: string[] | undefined;
  // Invalid UTF-8 becomes U+FFFD here, which the field validators reject by row.
  await pipeline(content, parser, async (records: AsyncIterable<NumberedRecord>) => {
    for await (const { fields, row } of records) {
      if (!columns) {
        columns = fields.map((c) => c.trim());
        checkHeader(fileName, columns, known, required);
        continue;
      }
      await accept(row, Object.fromEntries(columns.map((c, i) => [c, fields[i]])), fields.join(','));
    }
  });
  if (!columns) throw new InvalidInputFileError(fileName, 'the file has no rows');
}

/** A whole file in memory (small files, tests): its valid rows and problems. */
export async function parseRawFile<T>(fileName: string, bytes: Uint8Array, schema: RowSchema<T>, required: readonly string[], options?: ReadOptions): Promise<ParsedFile<T>> {
  const rows: T[] = [];
  const report = await readRawFile(fileName, [bytes], schema, required, (row) => void rows.push(row), options);
  return { ...report, rows };
}
