/**
 * The reference side of `npm run bench:dataplane`: the same transforms as storeloop's collect
 * and preprocess steps, in DuckDB SQL (one query per output), on the same raw files.
 *
 *   - collect: CSV -> typed columns, every field checked as the kind's row contract checks it
 *     (ids trimmed, 1..256 printable characters; enums; timestamps as ISO-8601 or epoch s/ms in
 *     range; numbers in range), bad rows to a quarantine file, valid rows to date-partitioned
 *     Parquet (DuckDB writes no Arrow IPC files; Parquet is its typed columnar file);
 *   - preprocess next-item: exact duplicates dropped, repeats of an item in a row collapsed,
 *     one chronological item sequence per user, the dense item vocabulary;
 *   - preprocess transaction-risk: duplicate transactions dropped, labels joined, and the 15
 *     windowed features of bench/features (RANGE frames per customer and per delayed terminal).
 *
 * Each returns the counts the bench compares with storeloop's, so that a transform that did
 * less (dropped rows, missed duplicates) shows as a mismatch, not as speed.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { EVENT_TYPES, MAX_CLOCK_SKEW_MS, MAX_ID_LENGTH, MAX_PRICE, MIN_EVENT_TIME_MS } from '../../schemas/events';
import { FRAUD_LABELS, MAX_TX_AMOUNT } from '../../activities/model-kinds/transaction-risk/rows';
import { DEFAULT_FEATURE_OPTIONS } from '../../activities/model-kinds/transaction-risk/features';

const DAY_MS = 86_400_000;

export interface DuckdbCounts {
  /** Rows the step read. */
  rows: number;
  /** What the bench checks against storeloop's result, by name. */
  counts: Record<string, number>;
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;
const list = (values: readonly string[]) => values.map(literal).join(', ');
const files = (paths: string[]) => `[${list(paths)}]`;

// The row contracts' checks (schemas/events.ts), as SQL over the raw text of a field.
const UNPRINTABLE = literal('[\\x00-\\x1f\\x7f\\x{fffd}]');
const identifierOk = (column: string) => `(length(trim(${column})) BETWEEN 1 AND ${MAX_ID_LENGTH} AND NOT regexp_matches(trim(${column}), ${UNPRINTABLE}))`;
const optionalTextOk = (column: string) => `(${column} IS NULL OR trim(${column}) = '' OR (length(trim(${column})) <= ${MAX_ID_LENGTH} AND NOT regexp_matches(trim(${column}), ${UNPRINTABLE})))`;
const optionalText = (column: string) => `nullif(trim(${column}), '')`;
/** Epoch milliseconds of an ISO-8601 text (zone-less is UTC) or of epoch seconds (<= 10 digits) / milliseconds. */
const epochMs = (column: string) =>
  `CASE WHEN regexp_full_match(trim(${column}), '-?\\d+(\\.\\d+)?') THEN round(CASE WHEN abs(trim(${column})::DOUBLE) < 1e11 THEN trim(${column})::DOUBLE * 1000 ELSE trim(${column})::DOUBLE END)::BIGINT ` +
  `ELSE epoch_ms(TRY_CAST(trim(${column}) AS TIMESTAMP)) END`;
const timeOk = (ms: string) => `(${ms} IS NOT NULL AND ${ms} BETWEEN ${MIN_EVENT_TIME_MS} AND ${Date.now() + MAX_CLOCK_SKEW_MS})`;
const numberOk = (column: string, max: number) => `(TRY_CAST(trim(${column}) AS DOUBLE) BETWEEN 0 AND ${max})`;

interface SourceSql {
  /** Typed columns, by output name. */
  columns: Record<string, string>;
  /** True for a row every field of which is valid (over the typed columns and the raw text, `raw_<column>`). */
  valid: string;
  /** The typed column the partitions are dated by (epoch ms). */
  time: string;
}

const SOURCES: Record<string, SourceSql> = {
  events: {
    columns: {
      user_id: 'trim(user_id)',
      item_id: 'trim(item_id)',
      event_type: 'event_type',
      timestamp: epochMs('"timestamp"'),
      session_id: optionalText('session_id'),
      price: `TRY_CAST(${optionalText('price')} AS DOUBLE)`,
      category: optionalText('category'),
    },
    valid:
      `${identifierOk('raw_user_id')} AND ${identifierOk('raw_item_id')} AND raw_event_type IN (${list(EVENT_TYPES)}) AND ${timeOk('timestamp')} AND ` +
      `${optionalTextOk('raw_session_id')} AND ${optionalTextOk('raw_category')} AND (${optionalText('raw_price')} IS NULL OR ${numberOk('raw_price', MAX_PRICE)})`,
    time: 'timestamp',
  },
  transactions: {
    columns: {
      transaction_id: 'trim(transaction_id)',
      tx_datetime: epochMs('tx_datetime'),
      customer_id: 'trim(customer_id)',
      terminal_id: 'trim(terminal_id)',
      tx_amount: 'TRY_CAST(trim(tx_amount) AS DOUBLE)',
      tx_fraud: `CASE lower(trim(tx_fraud)) WHEN '1' THEN 1 WHEN 'true' THEN 1 WHEN '0' THEN 0 WHEN 'false' THEN 0 END::TINYINT`,
    },
    valid:
      `${identifierOk('raw_transaction_id')} AND ${timeOk('tx_datetime')} AND ${identifierOk('raw_customer_id')} AND ${identifierOk('raw_terminal_id')} AND ` +
      `${numberOk('raw_tx_amount', MAX_TX_AMOUNT)} AND (${optionalText('raw_tx_fraud')} IS NULL OR tx_fraud IS NOT NULL)`,
    time: 'tx_datetime',
  },
  labels: {
    columns: { transaction_id: 'trim(transaction_id)', label: 'label', reported_at: epochMs('reported_at') },
    valid: `${identifierOk('raw_transaction_id')} AND raw_label IN (${list(FRAUD_LABELS)}) AND ${timeOk('reported_at')}`,
    time: 'reported_at',
  },
};

const scalar = async (db: DuckDBConnection, sql: string): Promise<number> => Number((await db.runAndReadAll(sql)).getRows()[0][0]);

/**
 * Collect of one source: `rawFiles` (CSV, all text) -> `<out>/<source>/date=YYYY-MM-DD/*.parquet`
 * and `<out>/quarantine-<source>.parquet`. Returns rows read, valid and quarantined.
 */
export async function collectSource(db: DuckDBConnection, source: string, rawFiles: string[], out: string): Promise<{ rows: number; valid: number; quarantined: number }> {
  const sql = SOURCES[source];
  if (!sql) throw new Error(`no DuckDB collect for source ${source}`);
  mkdirSync(out, { recursive: true });
  const typed = Object.entries(sql.columns).map(([name, expression]) => `${expression} AS ${name}`).join(', ');
  const names = Object.keys(sql.columns);
  // Every field read as text, as the CSV reader hands them to the row contract.
  await db.run(
    `CREATE OR REPLACE TEMP TABLE checked AS SELECT *, coalesce(${sql.valid}, false) AS valid FROM (` +
      `SELECT ${typed}, ${names.map((n) => `"${n}" AS raw_${n}`).join(', ')}, filename AS file, row_number() OVER () AS row ` +
      `FROM read_csv(${files(rawFiles)}, header = true, all_varchar = true, filename = true))`,
  );
  const columns = names.map((n) => (n === sql.time ? `make_timestamp(${n} * 1000) AS ${n}` : n)).join(', ');
  await db.run(
    `COPY (SELECT ${columns}, strftime(make_timestamp(${sql.time} * 1000), '%Y-%m-%d') AS date FROM checked WHERE valid) ` +
      `TO ${literal(path.join(out, source))} (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)`,
  );
  await db.run(`COPY (SELECT file, row FROM checked WHERE NOT valid) TO ${literal(path.join(out, `quarantine-${source}.parquet`))} (FORMAT parquet)`);
  const [rows, valid] = (await db.runAndReadAll('SELECT count(*), count(*) FILTER (WHERE valid) FROM checked')).getRows()[0].map(Number);
  await db.run('DROP TABLE checked');
  return { rows, valid, quarantined: rows - valid };
}

const partitions = (collected: string, source: string) => literal(path.join(collected, source, '*', '*.parquet'));

/** next-item preprocess over collected events: `<out>/sequences.parquet` and `<out>/vocabulary.parquet`. */
export async function prepareSequences(db: DuckDBConnection, collected: string, out: string): Promise<DuckdbCounts> {
  mkdirSync(out, { recursive: true });
  await db.run(`CREATE OR REPLACE TEMP TABLE events AS SELECT user_id, item_id, event_type, epoch_ms("timestamp") AS ms, row_number() OVER () AS arrival FROM read_parquet(${partitions(collected, 'events')})`);
  // The same user, item, type and time twice is one event delivered twice; then a repeat of the previous item is no new step.
  await db.run(
    `CREATE OR REPLACE TEMP TABLE steps AS SELECT user_id, item_id, ms, arrival FROM (` +
      `SELECT *, lag(item_id) OVER (PARTITION BY user_id ORDER BY ms, arrival) AS previous FROM (` +
      `SELECT DISTINCT ON (user_id, item_id, event_type, ms) * FROM events ORDER BY user_id, item_id, event_type, ms, arrival)) ` +
      `WHERE previous IS DISTINCT FROM item_id`,
  );
  await db.run('CREATE OR REPLACE TEMP TABLE vocabulary AS SELECT (row_number() OVER (ORDER BY item_id))::INTEGER AS item_index, item_id, count(*)::INTEGER AS interactions FROM steps GROUP BY item_id');
  await db.run(`COPY (SELECT * FROM vocabulary ORDER BY item_index) TO ${literal(path.join(out, 'vocabulary.parquet'))} (FORMAT parquet)`);
  await db.run(
    `COPY (SELECT user_id, list(item_index ORDER BY ms, arrival) AS items FROM steps JOIN vocabulary USING (item_id) GROUP BY user_id ORDER BY user_id) ` +
      `TO ${literal(path.join(out, 'sequences.parquet'))} (FORMAT parquet)`,
  );
  const rows = await scalar(db, 'SELECT count(*) FROM events');
  const counts = {
    users: await scalar(db, 'SELECT count(DISTINCT user_id) FROM steps'),
    items: await scalar(db, 'SELECT count(*) FROM vocabulary'),
    interactions: await scalar(db, 'SELECT count(*) FROM steps'),
  };
  await db.run('DROP TABLE events; DROP TABLE steps; DROP TABLE vocabulary');
  return { rows, counts };
}

/** The feature SQL of bench/features/features_bench.py, on a table `tx(row, tie_key, ms, tx_amount, tx_datetime, customer_id, terminal_id, fraud)`. */
function featuresSql(rows: number): string {
  const { windowsDays, labelDelayDays } = DEFAULT_FEATURE_OPTIONS;
  const d = labelDelayDays * DAY_MS;
  const select = [
    'transaction_id',
    'tx_amount',
    'CASE WHEN isodow(tx_datetime) >= 6 THEN 1.0 ELSE 0.0 END AS tx_during_weekend',
    'CASE WHEN hour(tx_datetime) <= 6 THEN 1.0 ELSE 0.0 END AS tx_during_night',
  ];
  for (const w of windowsDays) {
    // Customer frames: "time > t - w" as an offset on a unique (time, row) key; see features_bench.py.
    const frame = `(PARTITION BY customer_id ORDER BY tie_key RANGE BETWEEN (${w * DAY_MS - 1}::BIGINT * ${rows} + row) PRECEDING AND CURRENT ROW)`;
    select.push(`count(*) OVER ${frame} AS customer_nb_tx_${w}d`, `avg(tx_amount) OVER ${frame} AS customer_avg_amount_${w}d`);
  }
  for (const w of windowsDays) {
    const frame = `(PARTITION BY terminal_id ORDER BY ms RANGE BETWEEN ${d + w * DAY_MS - 1} PRECEDING AND ${d} PRECEDING)`;
    select.push(`count(*) OVER ${frame} AS terminal_nb_tx_${w}d`, `coalesce(avg(fraud) OVER ${frame}, 0) AS terminal_risk_${w}d`);
  }
  return `SELECT ${select.join(', ')} FROM tx ORDER BY row`;
}

/** transaction-risk preprocess over collected transactions and labels: `<out>/features.parquet`. */
export async function prepareRiskFeatures(db: DuckDBConnection, collected: string, out: string): Promise<DuckdbCounts> {
  mkdirSync(out, { recursive: true });
  await db.run(
    `CREATE OR REPLACE TEMP TABLE arrived AS SELECT *, row_number() OVER () AS arrival FROM read_parquet(${partitions(collected, 'transactions')})`,
  );
  const rows = await scalar(db, 'SELECT count(*) FROM arrived');
  // A transaction exported twice counts once; a chargeback labels a row that came without its flag.
  await db.run(
    `CREATE OR REPLACE TEMP TABLE tx AS SELECT row_number() OVER (ORDER BY ms, arrival) - 1 AS row, * FROM (` +
      `SELECT a.transaction_id, a.tx_datetime, epoch_ms(a.tx_datetime) AS ms, a.customer_id, a.terminal_id, a.tx_amount, a.arrival, ` +
      `coalesce(a.tx_fraud, CASE l.label WHEN 'fraud' THEN 1 WHEN 'genuine' THEN 0 END) AS fraud ` +
      `FROM (SELECT DISTINCT ON (transaction_id) * FROM arrived ORDER BY transaction_id, arrival) a ` +
      `LEFT JOIN (SELECT DISTINCT ON (transaction_id) transaction_id, label FROM read_parquet(${partitions(collected, 'labels')}) ORDER BY transaction_id, reported_at DESC) l USING (transaction_id))`,
  );
  const transactions = await scalar(db, 'SELECT count(*) FROM tx');
  await db.run(`CREATE OR REPLACE TEMP TABLE tx AS SELECT *, (ms - (SELECT min(ms) FROM tx)) * ${transactions} + row AS tie_key FROM tx`);
  await db.run(`COPY (${featuresSql(transactions)}) TO ${literal(path.join(out, 'features.parquet'))} (FORMAT parquet)`);
  const counts = { transactions, duplicates: rows - transactions };
  await db.run('DROP TABLE arrived; DROP TABLE tx');
  return { rows, counts };
}
