import assert from 'node:assert/strict';
import { TransactionRow } from '../../activities/model-kinds/transaction-risk/rows';
import {
  DEFAULT_SIMULATION,
  FRAUD_AMOUNT_THRESHOLD,
  HANDBOOK_SIMULATION,
  simulateTransactions,
  type SimulatedTransaction,
} from '../../activities/model-kinds/transaction-risk/simulator';

const DAY_MS = 86_400_000;

describe('transaction-risk simulator (the handbook\'s data-simulation chapter)', () => {
  let rows: SimulatedTransaction[];
  let seconds: number;
  before(() => {
    const started = performance.now();
    rows = simulateTransactions();
    seconds = (performance.now() - started) / 1000;
  });

  it('makes a few tens of thousands of transactions, fast', () => {
    assert.ok(rows.length > 30_000 && rows.length < 120_000, `${rows.length} rows`);
    assert.ok(seconds < 2, `took ${seconds.toFixed(2)} s`);
  });

  it('is deterministic for a seed, and the seed matters', () => {
    assert.deepEqual(simulateTransactions({ days: 10 }), simulateTransactions({ days: 10 }));
    const other = simulateTransactions({ days: 10, seed: 1 });
    assert.notDeepEqual(other, simulateTransactions({ days: 10 }));
  });

  it('sorts by time, numbers transactions 0..n-1 in that order, and stays within the simulated days', () => {
    const start = Date.parse(`${DEFAULT_SIMULATION.start}T00:00:00Z`);
    rows.forEach((row, i) => {
      assert.equal(row.transaction_id, String(i));
      if (i > 0) assert.ok(row.tx_datetime >= rows[i - 1].tx_datetime, `row ${i} is earlier than row ${i - 1}`);
      assert.ok(row.tx_datetime > start && row.tx_datetime < start + DEFAULT_SIMULATION.days * DAY_MS);
    });
  });

  it('puts times around noon and amounts around the customers\' means, as the handbook', () => {
    // N(noon, 20000 s) cut to the day: mean 43,200 s, standard deviation about 18,600 s.
    const seconds = rows.map((r) => (r.tx_datetime / 1000) % 86_400);
    const mean = seconds.reduce((s, x) => s + x, 0) / seconds.length;
    const std = Math.sqrt(seconds.reduce((s, x) => s + (x - mean) ** 2, 0) / seconds.length);
    assert.ok(Math.abs(mean - 43_200) < 900, `mean time of day ${mean} s`);
    assert.ok(std > 17_000 && std < 20_000, `standard deviation of the time of day ${std} s`);
    const genuine = rows.filter((r) => r.scenario !== 3);
    const meanAmount = genuine.reduce((s, r) => s + r.tx_amount, 0) / genuine.length;
    assert.ok(meanAmount > 45 && meanAmount < 60, `mean amount ${meanAmount}`); // U(5, 100) means, weighted by spend frequency
    assert.ok(rows.every((r) => r.tx_amount >= 0 && Math.round(r.tx_amount * 100) / 100 === r.tx_amount));
  });

  it('has about 1 % fraud, from each of the three scenarios', () => {
    const frauds = rows.filter((r) => r.tx_fraud === 1);
    const share = frauds.length / rows.length;
    assert.ok(share > 0.004 && share < 0.02, `fraud share ${share}`);
    for (const scenario of [1, 2, 3] as const) {
      const count = rows.filter((r) => r.scenario === scenario).length;
      assert.ok(count >= 10, `scenario ${scenario}: ${count} frauds`);
    }
    assert.ok(rows.every((r) => (r.scenario === 0) === (r.tx_fraud === 0)), 'a fraud has a scenario and a genuine row none');
  });

  it('makes every amount above 220 a fraud, and scenario 1 only such amounts', () => {
    for (const row of rows) {
      if (row.tx_amount > FRAUD_AMOUNT_THRESHOLD) assert.equal(row.tx_fraud, 1, `transaction ${row.transaction_id}: ${row.tx_amount}`);
      if (row.scenario === 1) assert.ok(row.tx_amount > FRAUD_AMOUNT_THRESHOLD);
    }
  });

  it('compromises few terminals (scenario 2) and few customers (scenario 3), for a bounded time each', () => {
    const terminalSpan = new Map<string, [number, number]>();
    const customers = new Set<string>();
    for (const row of rows) {
      if (row.scenario === 2) {
        const [from, to] = terminalSpan.get(row.terminal_id) ?? [row.tx_datetime, row.tx_datetime];
        terminalSpan.set(row.terminal_id, [Math.min(from, row.tx_datetime), Math.max(to, row.tx_datetime)]);
      }
      if (row.scenario === 3) customers.add(row.customer_id);
    }
    // 2 per 10,000 terminals and 3 per 5,000 customers a day, over 60 days: ~14 and ~22 expected.
    assert.ok(terminalSpan.size >= 3 && terminalSpan.size <= 40, `${terminalSpan.size} compromised terminals`);
    assert.ok(customers.size >= 3 && customers.size <= 60, `${customers.size} compromised customers`);
    // One compromise lasts 28 days; a terminal drawn twice stays compromised longer, so only most are bounded.
    const within = [...terminalSpan.values()].filter(([from, to]) => to - from < 28 * DAY_MS).length;
    assert.ok(within >= 0.7 * terminalSpan.size, `${within} of ${terminalSpan.size} terminals within 28 days`);
  });

  it('writes rows that pass the TransactionRow contract', () => {
    for (const { scenario: _scenario, ...row } of rows) {
      const parsed = TransactionRow.safeParse(row);
      assert.ok(parsed.success, `transaction ${row.transaction_id}: ${parsed.error?.message}`);
      assert.deepEqual(parsed.data, row);
    }
  });

  it('rejects impossible options', () => {
    assert.throws(() => simulateTransactions({ customers: 0 }), /customers must be a positive integer/);
    assert.throws(() => simulateTransactions({ start: 'soon' }), /not an ISO date/);
    assert.throws(() => simulateTransactions({ radius: -1 }), /radius must be a number >= 0/);
  });

  it('at the handbook\'s size, matches the handbook\'s dataset in size and fraud (1,754,155 rows, 14,681 frauds)', () => {
    const full = simulateTransactions(HANDBOOK_SIMULATION);
    const frauds = full.filter((r) => r.tx_fraud === 1).length;
    assert.ok(Math.abs(full.length / 1_754_155 - 1) < 0.03, `${full.length} rows`);
    assert.ok(Math.abs(frauds / 14_681 - 1) < 0.15, `${frauds} frauds`);
  });
});
