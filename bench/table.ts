/**
 * Plain aligned text tables for the benchmarks' human-readable output (console.table adds
 * an index column and quotes every string). Columns wider than `maxWidth` are not padded
 * for, so one long failure reason does not stretch the whole table.
 */
export function formatTable(header: string[], rows: string[][], maxWidth = 60): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => ((r[c] ?? '').length > maxWidth ? 0 : (r[c] ?? '').length))));
  const line = (r: string[]) => r.map((cell, c) => (cell ?? '').padEnd(widths[c])).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
