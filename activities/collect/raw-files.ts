/**
 * Reads one raw input file (CSV, JSONL or Arrow IPC, optionally gzip-compressed) and
 * validates every row against its contract. Row problems are returned, never thrown, so
 * the caller can quarantine them; problems with the file as a whole throw
 * InvalidInputFileError, which names the file and what to fix.
 */
import { gunzipSync } from 'node:zlib';
import { tableFromIPC } from 'apache-arrow';
import { parse as parseCsv } from 'csv-parse/sync';
import type { z } from 'zod';
import { formatIssues, type RowProblem } from '../../schemas/events';

export class InvalidInputFileError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'InvalidInputFileError';
  }
}

export interface ParsedFile<T> {
  rows: T[];
  problems: RowProblem[];
  /** Rows seen in the file, valid or not. */
  totalRows: number;
}

export type RawFormat = 'csv' | 'jsonl' | 'arrow';

export function detectFormat(fileName: string): RawFormat {
  const name = fileName.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  if (name.endsWith('.arrow') || name.endsWith('.ipc') || name.endsWith('.feather')) return 'arrow';
  throw new InvalidInputFileError(fileName, 'unknown format: name it .csv, .jsonl, .ndjson or .arrow (optionally .gz)');
}

interface RowSchema<T> {
  shape: Record<string, unknown>;
  safeParse(row: unknown): z.ZodSafeParseResult<T>;
}

/** The columns a file must carry: fields that are not optional in the row schema. */
function requiredColumns(schema: RowSchema<unknown>, required: readonly string[]): void {
  for (const column of required) {
    if (!(column in schema.shape)) throw new Error(`required column ${column} is not in the row schema`);
  }
}

function decompress(fileName: string, bytes: Uint8Array): Uint8Array {
  if (!fileName.toLowerCase().endsWith('.gz')) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (error) {
    throw new InvalidInputFileError(fileName, `not a valid gzip file (${(error as Error).message})`);
  }
}

function checkHeader(fileName: string, columns: string[], known: string[], required: readonly string[]): void {
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length > 0) {
    throw new InvalidInputFileError(
      fileName,
      `schema drift: missing required column(s) ${missing.join(', ')}; the file has ${columns.join(', ') || 'no columns'}`,
    );
  }
  const extra = columns.filter((c) => !known.includes(c));
  if (extra.length > 0) {
    throw new InvalidInputFileError(
      fileName,
      `schema drift: unknown column(s) ${extra.join(', ')}; expected some of ${known.join(', ')}`,
    );
  }
}

export function parseRawFile<T>(
  fileName: string,
  bytes: Uint8Array,
  schema: RowSchema<T>,
  required: readonly string[],
): ParsedFile<T> {
  requiredColumns(schema, required);
  const content = decompress(fileName, bytes);
  if (content.byteLength === 0) throw new InvalidInputFileError(fileName, 'the file is empty');
  const known = Object.keys(schema.shape);
  const result: ParsedFile<T> = { rows: [], problems: [], totalRows: 0 };
  const accept = (row: number, record: unknown, raw: string) => {
    result.totalRows++;
    const parsed = schema.safeParse(record);
    if (parsed.success) result.rows.push(parsed.data);
    else result.problems.push(...formatIssues(fileName, row, parsed.error, raw).slice(0, 1));
  };

  const format = detectFormat(fileName);
  if (format === 'arrow') {
    let table;
    try {
      table = tableFromIPC(content);
    } catch (error) {
      throw new InvalidInputFileError(fileName, `not a readable Arrow IPC file (${(error as Error).message})`);
    }
    checkHeader(fileName, table.schema.fields.map((f) => f.name), known, required);
    let row = 0;
    for (const record of table) {
      row++;
      const plain = record.toJSON() as Record<string, unknown>;
      for (const [k, v] of Object.entries(plain)) if (typeof v === 'bigint') plain[k] = Number(v);
      accept(row, plain, JSON.stringify(plain, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
    }
    return result;
  }

  // Invalid UTF-8 becomes U+FFFD here, which the field validators reject by row.
  const text = new TextDecoder('utf-8').decode(content);
  if (text.trim() === '') throw new InvalidInputFileError(fileName, 'the file has no rows');

  if (format === 'jsonl') {
    const lines = text.split(/\r?\n/);
    lines.forEach((line, index) => {
      if (line.trim() === '') return;
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (error) {
        result.totalRows++;
        result.problems.push({ file: fileName, row: index + 1, field: '(row)', message: `malformed JSON: ${(error as Error).message}`, raw: line.slice(0, 500) });
        return;
      }
      accept(index + 1, record, line);
    });
    return result;
  }

  const header = parseCsv(text, { to_line: 1, bom: true }) as string[][];
  if (header.length === 0) throw new InvalidInputFileError(fileName, 'the file has no header row');
  const columns = header[0].map((c) => c.trim());
  checkHeader(fileName, columns, known, required);
  const records = parseCsv(text, {
    bom: true,
    from_line: 2,
    skip_empty_lines: true,
    info: true,
    // A malformed line becomes a row problem instead of failing the whole file.
    skip_records_with_error: true,
    on_skip: (error, raw) => {
      result.totalRows++;
      const line = error && 'lines' in error ? Number(error.lines) : 0;
      result.problems.push({ file: fileName, row: line - 1, field: '(row)', message: `malformed CSV: ${error?.message ?? 'unreadable line'}`, raw: (raw ?? '').slice(0, 500) });
      return undefined;
    },
  }) as unknown as { record: string[]; info: { lines: number } }[];
  for (const { record, info } of records) {
    accept(info.lines - 1, Object.fromEntries(columns.map((c, i) => [c, record[i]])), record.join(','));
  }
  return result;
}
