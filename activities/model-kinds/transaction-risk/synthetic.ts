/**
 * The embedded default data for transaction risk: the simulator's transactions as weekly
 * CSV exports. Older weeks carry their fraud flag (settled); the last week's transactions
 * come without it, and its frauds arrive as chargebacks in a labels file, reported a day
 * after the transaction, as the card network would send them.
 */
import { DEFAULT_SIMULATION, simulateTransactions, type SimulatedTransaction, type SimulationOptions } from './simulator';
import { DAY_MS } from './protocol';
import type { RawFile } from '../contract';

const UNSETTLED_DAYS = 7;
/**
 * A store big enough that the handbook's one-week training window holds a few hundred frauds
 * (the simulator's own default is a quick unit-test size).
 */
export const EMBEDDED_SIMULATION: SimulationOptions = { ...DEFAULT_SIMULATION, customers: 2500, terminals: 5000, days: 60 };
const CHARGEBACK_DELAY_MS = DAY_MS;

const iso = (ms: number) => new Date(ms).toISOString();

export function syntheticTransactionFiles(options: SimulationOptions = EMBEDDED_SIMULATION): RawFile[] {
  const transactions = simulateTransactions(options);
  const end = transactions[transactions.length - 1].tx_datetime;
  const settledBefore = end - UNSETTLED_DAYS * DAY_MS;
  const weeks = new Map<string, SimulatedTransaction[]>();
  for (const tx of transactions) {
    const monday = new Date(tx.tx_datetime);
    monday.setUTCHours(0, 0, 0, 0);
    monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
    const key = monday.toISOString().slice(0, 10);
    const week = weeks.get(key);
    if (week) week.push(tx);
    else weeks.set(key, [tx]);
  }
  const files: RawFile[] = [...weeks].map(([week, rows]) => ({
    source: 'transactions',
    name: `transactions-week-${week}.csv`,
    contentType: 'text/csv',
    rows: rows.length,
    body: [
      'transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_fraud',
      ...rows.map((t) => [t.transaction_id, iso(t.tx_datetime), t.customer_id, t.terminal_id, t.tx_amount.toFixed(2), t.tx_datetime < settledBefore ? t.tx_fraud : ''].join(',')),
    ].join('\n') + '\n',
  }));
  const chargebacks = transactions.filter((t) => t.tx_datetime >= settledBefore && t.tx_fraud === 1);
  files.push({
    source: 'labels',
    name: 'chargebacks.csv',
    contentType: 'text/csv',
    rows: chargebacks.length,
    body: ['transaction_id,label,reported_at', ...chargebacks.map((t) => `${t.transaction_id},fraud,${iso(t.tx_datetime + CHARGEBACK_DELAY_MS)}`)].join('\n') + '\n',
  });
  return files;
}
