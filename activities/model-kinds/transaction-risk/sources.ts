/** The transaction-risk kind's raw sources: card transactions, and fraud labels that arrive later (chargebacks, investigator verdicts). */
import { FraudLabelRow, LABEL_SCHEMA, REQUIRED_LABEL_COLUMNS, REQUIRED_TRANSACTION_COLUMNS, TRANSACTION_SCHEMA, TransactionRow, type FraudLabel, type Transaction } from './rows';
import type { SourceContract } from '../contract';

export const transactionsSource: SourceContract<Transaction> = {
  name: 'transactions',
  mode: 'events',
  row: TransactionRow,
  arrow: TRANSACTION_SCHEMA,
  required: REQUIRED_TRANSACTION_COLUMNS,
  requiredForTraining: true,
  personal: { customer_id: 'identifier' },
  linkedBy: ['transaction_id'],
  timeOf: (row) => row.tx_datetime,
  columns: (rows) => Object.fromEntries(TRANSACTION_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof Transaction])])),
};

/** Partitioned by when the label was reported, which is when it became known. */
export const labelsSource: SourceContract<FraudLabel> = {
  name: 'labels',
  mode: 'events',
  row: FraudLabelRow,
  arrow: LABEL_SCHEMA,
  required: REQUIRED_LABEL_COLUMNS,
  timeOf: (row) => row.reported_at,
  columns: (rows) => Object.fromEntries(LABEL_SCHEMA.fields.map((f) => [f.name, rows.map((r) => r[f.name as keyof FraudLabel])])),
};
