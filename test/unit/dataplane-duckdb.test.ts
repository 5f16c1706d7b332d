/**
 * bench:dataplane compares storeloop's collect with DuckDB SQL that is meant to accept and
 * reject the same rows: checked here on rows that break each field's rule, against the row
 * contracts themselves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseRawFile } from '../../activities/collect/raw-files';
import { collectSource } from '../../bench/dataplane/duckdb';
import { RawEventRow, REQUIRED_EVENT_COLUMNS } from '../../schemas/events';
import { REQUIRED_TRANSACTION_COLUMNS, TransactionRow } from '../../activities/model-kinds/transaction-risk/rows';

const EVENTS = [
  'user_id,item_id,event_type,timestamp,session_id,price,category',
  'u1,i1,view,2024-03-01T10:00:00Z,s1,9.99,shoes',
  ' u2 ,i2,purchase,1709287200,,,', // trimmed id, epoch seconds, empty optionals
  'u3,i3,view,1709287200000,s3,0,', // epoch milliseconds
  ',i4,view,2024-03-01T10:00:00Z,,,', // empty id
  'u5,i5,teleport,2024-03-01T10:00:00Z,,,', // unknown event type
  'u6,i6,view,not a time,,,',
  'u7,i7,view,1990-01-01T00:00:00Z,,,', // before the earliest accepted time
  'u8,i8,view,2024-03-01T10:00:00Z,,-1,', // negative price
  'u9,i9,view,2024-03-01T10:00:00Z,,abc,',
  `${'u'.repeat(257)},i10,view,2024-03-01T10:00:00Z,,,`, // id over 256 characters
];

const TRANSACTIONS = [
  'transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_fraud',
  't1,2018-04-01 10:00:00,c1,k1,12.50,0',
  't2,2018-04-01T10:00:00.000Z,c1,k1,12.50,', // unlabelled
  't3,2018-04-01 10:00:00,c1,k1,12.50,true',
  't4,2018-04-01 10:00:00,c1,k1,,0', // amount missing
  't5,2018-04-01 10:00:00,c1,k1,20000000,0', // amount over the limit
  't6,2018-04-01 10:00:00,c1,k1,12.50,maybe',
  't7,yesterday,c1,k1,12.50,0',
];

describe('bench:dataplane: DuckDB collect checks rows as the row contracts do', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'storeloop-dataplane-test-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Each source's own contract: parsing is generic in the row type, so the two cannot share one tuple.
  const parsers: { source: 'events' | 'transactions'; lines: string[]; parse: (csv: string) => Promise<{ totalRows: number; validRows: number; problems: { row: number }[] }> }[] = [
    { source: 'events', lines: EVENTS, parse: (csv) => parseRawFile('events.csv', Buffer.from(csv), RawEventRow, REQUIRED_EVENT_COLUMNS) },
    { source: 'transactions', lines: TRANSACTIONS, parse: (csv) => parseRawFile('transactions.csv', Buffer.from(csv), TransactionRow, REQUIRED_TRANSACTION_COLUMNS) },
  ];
  for (const { source, lines, parse } of parsers) {
    it(`${source}: the same rows valid and quarantined`, async () => {
      const csv = `${lines.join('\n')}\n`;
      const file = path.join(dir, `${source}.csv`);
      writeFileSync(file, csv);
      const ours = await parse(csv);
      const db = await (await DuckDBInstance.create(':memory:', { threads: '1' })).connect();
      const theirs = await collectSource(db, source, [file], path.join(dir, source));
      assert.ok(ours.problems.length >= 4, 'the fixture has bad rows to disagree on');
      assert.deepEqual(
        { rows: theirs.rows, valid: theirs.valid, quarantined: theirs.quarantined },
        { rows: ours.totalRows, valid: ours.validRows, quarantined: ours.problems.length },
      );
      const quarantinedRows = (await db.runAndReadAll(`SELECT row FROM read_parquet('${path.join(dir, source, `quarantine-${source}.parquet`)}') ORDER BY row`)).getRows().map((r) => Number(r[0]));
      assert.deepEqual(quarantinedRows, ours.problems.map((p) => p.row), 'the same rows, by number');
    });
  }
});
