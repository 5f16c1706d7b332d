/**
 * Aligned text tables for everything a person reads: the CLI's summaries and the
 * benchmarks' results (console.table adds an index column and quotes every string).
 * The `table` package does the layout and wrapping; only the header is ruled, so a table
 * reads well in a terminal and pastes cleanly into notes. Columns whose every cell is a
 * number (or a placeholder such as "n/a") are right-aligned.
 */
import { table, getBorderCharacters } from 'table';

const NUMERIC_CELL = /^[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?\s?(%|×|x|ms|s|MiB|GiB)?$/i;
const PLACEHOLDER_CELL = /^(|n\/a|-|–|—)$/;

export type Cell = string | number | null | undefined;

function text(cell: Cell): string {
  return cell === null || cell === undefined ? '' : String(cell);
}

function isNumericColumn(rows: string[][], column: number): boolean {
  const cells = rows.map((row) => row[column]).filter((cell) => !PLACEHOLDER_CELL.test(cell));
  return cells.length > 0 && cells.every((cell) => NUMERIC_CELL.test(cell));
}

/** A header, a rule, and one line per row; cells longer than `maxWidth` are wrapped at word boundaries. */
export function formatTable(header: string[], rows: Cell[][], maxWidth = 60): string {
  const body = rows.map((row) => header.map((_, c) => text(row[c])));
  const widths = header.map((h, c) => Math.min(maxWidth, Math.max(h.length, ...body.map((row) => row[c].length))));
  return table([header, ...body], {
    border: { ...getBorderCharacters('void'), joinBody: '─', joinJoin: '─' },
    drawHorizontalLine: (line) => line === 1,
    columns: header.map((_, c) => ({
      width: Math.max(1, widths[c]),
      wrapWord: true,
      alignment: isNumericColumn(body, c) ? ('right' as const) : ('left' as const),
      paddingLeft: 0,
      paddingRight: 2,
    })),
  })
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trimEnd();
}

/** Records as a table with their keys as the header, or "(none)". */
export function formatRecords(records: Record<string, Cell>[]): string {
  if (records.length === 0) return '(none)';
  const header = [...new Set(records.flatMap((r) => Object.keys(r)))];
  return formatTable(header, records.map((r) => header.map((key) => r[key])));
}
