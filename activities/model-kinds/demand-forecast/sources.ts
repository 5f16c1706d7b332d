/** The demand-forecast kind's raw sources: the store's sales (purchase events with quantities), and series files in the M4 layout (a full export). */
import { REQUIRED_SALE_COLUMNS, SALE_SCHEMA, SaleRow, SERIES_FILE_SCHEMA, SeriesRow, type Sale, type SeriesRecord } from './rows';
import type { SourceContract } from '../contract';

export const salesSource: SourceContract<Sale> = {
  name: 'sales',
  mode: 'events',
  row: SaleRow,
  arrow: SALE_SCHEMA,
  required: REQUIRED_SALE_COLUMNS,
  timeOf: (row) => row.timestamp,
  columns: (rows) => Object.fromEntries(SALE_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof Sale])])),
};

export const seriesSource: SourceContract<SeriesRecord> = {
  name: 'series',
  mode: 'table',
  row: SeriesRow,
  arrow: SERIES_FILE_SCHEMA,
  required: ['V1', 'V2'],
  columns: (rows) => ({ series_id: rows.map((r) => r.series_id), values: rows.map((r) => r.values) }),
};
