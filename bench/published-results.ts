/** The published results table of ../shared/datasets/README.md, read at run time. */
import type { RankingMetrics } from '../ml/sequence/ranking';

export const METRICS = ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20'] as const;

export interface ResultRow {
  model: string;
  source: string;
  metrics: Omit<RankingMetrics, 'users'>;
}

/** Published HR@10 / NDCG@10 / HR@20 / NDCG@20 rows for a dataset, if the README has them. */
export function publishedRows(readme: string, column: string): ResultRow[] {
  const cellsOf = (line: string) => line.split('|').map((c) => c.trim());
  const lines = readme.split('\n').filter((l) => l.trim().startsWith('|'));
  const header = lines.find((l) => cellsOf(l)[1] === 'model' && cellsOf(l).includes(column));
  if (!header) return [];
  const columns = cellsOf(header);
  const index = columns.indexOf(column);
  const rows: ResultRow[] = [];
  for (const line of lines.slice(lines.indexOf(header) + 1)) {
    const cells = cellsOf(line);
    const values = (cells[index] ?? '').split('/').map((v) => Number(v.trim()));
    if (values.length !== 4 || values.some((v) => !Number.isFinite(v))) continue;
    rows.push({ model: cells[1], source: 'published', metrics: Object.fromEntries(METRICS.map((m, i) => [m, values[i]])) as ResultRow['metrics'] });
  }
  return rows;
}

