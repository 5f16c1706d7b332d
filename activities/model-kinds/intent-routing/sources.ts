/** The intent-routing kind's raw source: customer utterances, labelled by agents or not. */
import { REQUIRED_UTTERANCE_COLUMNS, UTTERANCE_SCHEMA, UtteranceRow, type Utterance } from './rows';
import type { SourceContract } from '../contract';

export const utterancesSource: SourceContract<Utterance> = {
  name: 'utterances',
  mode: 'events',
  row: UtteranceRow,
  arrow: UTTERANCE_SCHEMA,
  required: REQUIRED_UTTERANCE_COLUMNS,
  requiredForTraining: true,
  personal: { text: 'free-text', conversation_id: 'identifier' },
  // Undated rows (a benchmark export) go to the epoch's partition; collect needs a date for every row.
  timeOf: (row) => row.timestamp ?? 0,
  columns: (rows) => Object.fromEntries(UTTERANCE_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof Utterance])])),
};
