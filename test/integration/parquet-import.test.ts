import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testStack, log } from './test-stack';
import { collectSources, rawPrefix } from '../../activities/collect/collect';
import { readTable } from '../../activities/storage/arrow-io';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { PROJECT_ROOT } from '../../infra/config';
import type { DatasetSnapshot, CollectResult } from '../../schemas/steps';
import type { ObjectStore } from '../../activities/storage/object-store';

/**
 * A Parquet file written by another tool (DuckDB, from the features bench's pinned venv),
 * in several row groups with bad rows among them, and the same rows as CSV: collect must
 * import the same valid rows from both and quarantine the same rows by the same numbers.
 */
const ROWS = 2500;
const BAD_EVERY = 400; // rows 400, 800, ... carry an unknown event type
const DUCKDB_QUERY = `
  SELECT 'u' || (i % 37) AS user_id, 'p' || (i % 53) AS item_id,
         CASE WHEN (i + 1) % ${BAD_EVERY} = 0 THEN 'teleport' WHEN i % 5 = 0 THEN 'purchase' ELSE 'view' END AS event_type,
         TIMESTAMP '2026-11-01 00:00:00' + INTERVAL (i * 7) MINUTE AS timestamp,
         CASE WHEN i % 3 = 0 THEN 19.5 + i % 10 END AS price
  FROM range(${ROWS}) t(i) ORDER BY i`;

function writeWithDuckDb(dir: string): { parquet: string; csv: string } {
  const setup = spawnSync('bash', [path.join(PROJECT_ROOT, 'bench/features/setup.sh')], { encoding: 'utf8' });
  assert.equal(setup.status, 0, `bench/features/setup.sh: ${setup.stderr || setup.stdout}`);
  const python = path.join(process.env.STORELOOP_FEATURES_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'storeloop', 'features-bench-venv'), 'bin', 'python');
  const [parquet, csv] = [path.join(dir, 'events.parquet'), path.join(dir, 'events.csv')];
  const script = [
    'import duckdb',
    `duckdb.sql("""COPY (${DUCKDB_QUERY}) TO '${parquet}' (FORMAT parquet, ROW_GROUP_SIZE 1000)""")`,
    `duckdb.sql("""COPY (SELECT user_id, item_id, event_type, strftime(timestamp, '%Y-%m-%dT%H:%M:%SZ') AS timestamp, price FROM (${DUCKDB_QUERY})) TO '${csv}' (HEADER)""")`,
    `groups = duckdb.sql("SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${parquet}')").fetchall()[0][0]`,
    'assert groups >= 2, groups',
  ].join('\n');
  const run = spawnSync(python, ['-c', script], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return { parquet, csv };
}

async function importedRows(store: ObjectStore, collected: CollectResult): Promise<string[]> {
  const snapshot = await store.getJson<DatasetSnapshot>(collected.snapshot.key);
  const rows: string[] = [];
  for (const partition of snapshot.sources.events.partitions) {
    for (const row of await readTable(store, partition.key)) rows.push(JSON.stringify(row.toJSON(), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  return rows.sort();
}

describe('collect imports Parquet written by another tool @integration', () => {
  it('reads every row group, validates like CSV, and quarantines bad rows by their row number', async () => {
    const { workers } = await testStack();
    const { store } = workers;
    const files = writeWithDuckDb(mkdtempSync(path.join(os.tmpdir(), 'storeloop-parquet-')));
    const stamp = Date.now();
    const results: Record<string, CollectResult> = {};
    for (const [format, file] of Object.entries(files)) {
      const dataset = `parquet-${format}-${stamp}`;
      await store.put(`${rawPrefix(dataset, 'events')}events.${format}`, readFileSync(file));
      results[format] = await collectSources(store, log, { dataset, sources: nextItemKind.sources, maxBadRowFraction: 0.01 });
    }
    const bad = Math.floor(ROWS / BAD_EVERY);
    assert.equal(results.parquet.rowsImported, ROWS - bad);
    assert.equal(results.parquet.quarantinedRows, bad);
    const quarantine = await readTable(store, results.parquet.quarantine!.key);
    assert.deepEqual(Array.from(quarantine.getChild('row')!.toArray() as Int32Array, Number), Array.from({ length: bad }, (_, i) => (i + 1) * BAD_EVERY), 'row numbers run on across row groups');
    assert.deepEqual(await importedRows(store, results.parquet), await importedRows(store, results.csv), 'the same rows as the CSV export of the same query');
  });
});
