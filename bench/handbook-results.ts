/**
 * The Fraud Detection Handbook's published rows, read at run time from
 * ../shared/datasets/README.md: "<model> .871 / .606 / .291" is AUC-ROC / average precision
 * / card precision@100, in the paragraph of each protocol.
 */
export interface HandbookRow {
  model: string;
  auc: number;
  ap: number;
  cardPrecision: number;
}

/** The paragraph that starts at `marker`, up to the next blank line. */
function paragraph(readme: string, marker: string): string {
  const start = readme.indexOf(marker);
  if (start < 0) return '';
  const end = readme.indexOf('\n\n', start);
  return readme.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ');
}

export function handbookRows(readme: string, protocol: 'single' | 'prequential'): HandbookRow[] {
  const text = paragraph(readme, protocol === 'single' ? 'Handbook baselines on that test week' : 'Best validation-selected results there');
  const body = text.slice(text.indexOf(':') + 1);
  const rows: HandbookRow[] = [];
  for (const match of body.matchAll(/([A-Za-z][A-Za-z -]*?(?:\([^)]*\))?)\s+(\.\d+)\s*\/\s*(\.\d+)\s*\/\s*(\.\d+)/g)) {
    rows.push({ model: match[1].trim(), auc: Number(match[2]), ap: Number(match[3]), cardPrecision: Number(match[4]) });
  }
  return rows;
}
