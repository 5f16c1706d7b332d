/**
 * `npm run bench:features [-- --json] [--data FILE] [--repeats N] [--engines storeloop,duckdb,pandas]`:
 * speed of the transaction-risk feature step (activities/model-kinds/transaction-risk/features.ts)
 * on the handbook's 1.75 M card transactions, against the same features computed by
 *
 *   - DuckDB: one SQL query of window functions over RANGE frames;
 *   - pandas: the handbook's time-based rolling windows per customer and per terminal
 *     (groupby().rolling(), the vectorised form of the handbook's groupby().apply());
 *
 * both in bench/features/features_bench.py, in a virtualenv outside the repository made by
 * bench/features/setup.sh (pinned, hashed; run by this bench, a no-op once done).
 *
 * Every engine reads the same CSV once, untimed, and is timed on the feature transform alone,
 * best of --repeats: ours `computeBatchFeatures` on columns already in memory (ids
 * dictionary-encoded, tx_fraud turned into labels reported 7 days later), DuckDB the query from a
 * table already in its storage into a new table, pandas from a loaded DataFrame to a feature
 * matrix. The Python engines write their features as .npy; the bench compares every value with
 * ours: they agree when |ours - theirs| <= 1e-6 * max(1, |theirs|) (ours are float32, theirs
 * float64), and it prints the largest absolute difference per engine and feature.
 *
 * Load: the machine is shared; before measuring, the bench waits (up to --max-wait seconds) for the
 * 1-minute load average to fall below --max-load, and prints the load before each engine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { Command, InvalidArgumentError } from 'commander';
import {
  computeBatchFeatures,
  DEFAULT_FEATURE_OPTIONS,
  DictionaryEncoder,
  featureNames,
  labelsFromTxFraud,
  type TransactionColumns,
} from '../activities/model-kinds/transaction-risk/features';
import { formatTable } from '../infra/text-table';
import { datasetPath, missingDatasetReason } from '../infra/datasets';

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_DATA = datasetPath('card-transactions', 'transactions.csv.gz');
const DEFAULT_VENV = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'storeloop', 'features-bench-venv');
const HEADER = 'transaction_id,tx_datetime,customer_id,terminal_id,tx_amount,tx_fraud';
const TOLERANCE = 1e-6;
const ENGINES = ['storeloop', 'duckdb', 'pandas'] as const;
type Engine = (typeof ENGINES)[number];

interface Args {
  json: boolean;
  data: string;
  repeats: number;
  engines: Engine[];
  python?: string;
  threads: number;
  maxLoad: number;
  maxWait: number;
}

function parseArgs(argv: string[]): Args {
  const positive = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
    return n;
  };
  const engines = (v: string) => {
    const list = v.split(',').filter(Boolean);
    for (const e of list) if (!(ENGINES as readonly string[]).includes(e)) throw new InvalidArgumentError(`unknown engine ${e}; known: ${ENGINES.join(', ')}`);
    if (!list.includes('storeloop')) throw new InvalidArgumentError('storeloop is what the others are compared with');
    return list as Engine[];
  };
  return new Command('bench:features')
    .option('--json', 'print one JSON object on the last stdout line', false)
    .option('--data <file>', 'transactions CSV (gzip)', (v: string) => path.resolve(v), DEFAULT_DATA)
    .option('--repeats <n>', 'timed runs per engine; the best counts', positive, 3)
    .option('--engines <list>', 'engines to run, comma-separated', engines, [...ENGINES])
    .option('--python <path>', 'python of a virtualenv with bench/features/requirements.txt (default: made by bench/features/setup.sh)')
    .option('--threads <n>', 'DuckDB threads', positive, os.cpus().length)
    .option('--max-load <x>', 'wait until the 1-minute load average is below this', Number, 1.0)
    .option('--max-wait <s>', 'longest wait for a quiet machine (then measure anyway, flagged)', Number, 300)
    .parse(argv, { from: 'user' })
    .opts<Args>();
}

interface Loaded {
  columns: TransactionColumns;
  txFraud: Uint8Array;
  customers: number;
  terminals: number;
}

/** The CSV as columns. Not a validator (the TransactionRow contract is tested on this file): a plain, fast reader of its known layout. */
function loadTransactions(file: string): Loaded {
  const lines = gunzipSync(readFileSync(file)).toString('utf8').split('\n');
  if (lines[0].trim() !== HEADER) throw new Error(`${file}: expected the header ${HEADER}, got ${lines[0]}`);
  while (lines.length > 1 && lines[lines.length - 1].trim() === '') lines.pop();
  const n = lines.length - 1;
  const columns: TransactionColumns = { timeMs: new Float64Array(n), customer: new Int32Array(n), terminal: new Int32Array(n), amount: new Float64Array(n) };
  const txFraud = new Uint8Array(n);
  const customers = new DictionaryEncoder();
  const terminals = new DictionaryEncoder();
  for (let i = 0; i < n; i++) {
    const [, datetime, customer, terminal, amount, fraud] = lines[i + 1].split(',');
    // Zone-less date-times are UTC, as the TransactionRow contract reads them.
    columns.timeMs[i] = Date.parse(`${datetime.replace(' ', 'T')}Z`);
    columns.customer[i] = customers.encode(customer);
    columns.terminal[i] = terminals.encode(terminal);
    columns.amount[i] = Number(amount);
    txFraud[i] = fraud.trim() === '1' ? 1 : 0;
    if (!Number.isFinite(columns.timeMs[i]) || !Number.isFinite(columns.amount[i])) throw new Error(`${file} row ${i + 1}: unreadable ${lines[i + 1]}`);
  }
  return { columns, txFraud, customers: customers.size, terminals: terminals.size };
}

/** A float64 C-order matrix from a .npy file (format versions 1 to 3). */
function readNpy(file: string): { shape: number[]; values: Float64Array } {
  const bytes = readFileSync(file);
  if (bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = bytes.subarray(headerStart, headerStart + headerLength).toString('latin1');
  if (!/'descr':\s*'<f8'/.test(header) || !/'fortran_order':\s*False/.test(header)) throw new Error(`${file}: expected little-endian float64 in C order, header ${header}`);
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').filter((s) => s.trim() !== '').map(Number);
  const data = bytes.subarray(headerStart + headerLength);
  // Copied: a Float64Array needs an 8-byte aligned offset, which the header does not promise.
  const values = new Float64Array(data.byteLength / 8);
  new Uint8Array(values.buffer).set(data);
  return { shape, values };
}

interface Comparison {
  agree: boolean;
  maxAbsDiff: number;
  maxAbsDiffByFeature: Record<string, number>;
  /** Values outside the tolerance. */
  mismatches: number;
}

function compare(ours: Float32Array, theirs: Float64Array, names: string[]): Comparison {
  if (ours.length !== theirs.length) throw new Error(`${theirs.length / names.length} rows of features to compare with ${ours.length / names.length}`);
  const byFeature = new Float64Array(names.length);
  let mismatches = 0;
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(ours[i] - theirs[i]);
    const k = i % names.length;
    if (!(diff <= byFeature[k])) byFeature[k] = diff; // NaN counts as the largest difference
    if (!(diff <= TOLERANCE * Math.max(1, Math.abs(theirs[i])))) mismatches++;
  }
  return {
    agree: mismatches === 0,
    maxAbsDiff: Math.max(...byFeature),
    maxAbsDiffByFeature: Object.fromEntries(names.map((name, k) => [name, byFeature[k]])),
    mismatches,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the 1-minute load average is below maxLoad (or maxWait passes). */
async function waitForQuiet(args: Args, log: (s: string) => void): Promise<{ load1: number; belowLimit: boolean }> {
  const start = Date.now();
  let said = false;
  for (;;) {
    const load1 = os.loadavg()[0];
    if (load1 < args.maxLoad) return { load1, belowLimit: true };
    if (Date.now() - start >= args.maxWait * 1000) {
      log(`  load average still ${load1.toFixed(2)} after ${args.maxWait} s; measuring anyway (flagged)`);
      return { load1, belowLimit: false };
    }
    if (!said) log(`  waiting for the 1-minute load average (${load1.toFixed(2)}) to drop below ${args.maxLoad}...`);
    said = true;
    await sleep(5000);
  }
}

interface EngineResult {
  engine: Engine;
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  version?: string;
  threads?: number;
  seconds?: number;
  rowsPerSecond?: number;
  load1?: number;
  comparison?: Comparison;
}

/** The Python engines: makes the venv if needed, runs them in one process, reads their features back. */
function runPythonEngines(args: Args, engines: Engine[], names: string[], ours: Float32Array, log: (s: string) => void): EngineResult[] {
  const unavailable = (reason: string) => engines.map((engine): EngineResult => ({ engine, status: 'unavailable', reason }));
  let python = args.python;
  if (!python) {
    const setup = spawnSync('bash', [path.join(ROOT, 'bench/features/setup.sh')], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', env: { ...process.env, STORELOOP_FEATURES_VENV: DEFAULT_VENV } });
    if (setup.status !== 0) return unavailable(`bench/features/setup.sh failed: ${(setup.stderr || setup.stdout).trim().split('\n').slice(-2).join(' | ')}`);
    python = path.join(DEFAULT_VENV, 'bin', 'python');
  }
  if (!existsSync(python)) return unavailable(`no Python at ${python}`);
  const out = mkdtempSync(path.join(os.tmpdir(), 'storeloop-bench-features-'));
  try {
    const { windowsDays, labelDelayDays } = DEFAULT_FEATURE_OPTIONS;
    const run = spawnSync(
      python,
      [path.join(ROOT, 'bench/features/features_bench.py'), '--data', args.data, '--out', out, '--engines', engines.join(','), '--windows', windowsDays.join(','), '--delay', String(labelDelayDays), '--threads', String(args.threads), '--repeats', String(args.repeats)],
      { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 26 },
    );
    if (run.status !== 0) return engines.map((engine) => ({ engine, status: 'failed', reason: `exit ${run.status}: ${run.stderr.trim().split('\n').slice(-3).join(' | ')}` }));
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as {
      rows: number;
      versions: Record<string, string>;
      engines: Record<string, { seconds: number; threads: number; load1: number }>;
    };
    return engines.map((engine) => {
      const measured = report.engines[engine];
      const features = readNpy(path.join(out, `${engine}.npy`));
      if (features.shape[0] !== report.rows || features.shape[1] !== names.length) throw new Error(`${engine}.npy has shape ${features.shape}, expected ${report.rows} x ${names.length}`);
      log(`  ${engine}: ${measured.seconds.toFixed(3)} s`);
      return {
        engine,
        status: 'ok',
        version: report.versions[engine],
        threads: measured.threads,
        seconds: measured.seconds,
        rowsPerSecond: report.rows / measured.seconds,
        load1: measured.load1,
        comparison: compare(ours, features.values, names),
      };
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  // Progress goes to stderr with --json so that stdout ends with the one JSON line.
  const log = (s: string) => (args.json ? console.error(s) : console.log(s));
  const missing = missingDatasetReason(args.data);
  if (missing) throw new Error(missing);
  const loadStarted = performance.now();
  const data = loadTransactions(args.data);
  const rows = data.columns.timeMs.length;
  const labels = labelsFromTxFraud(data.columns.timeMs, data.txFraud);
  const names = featureNames(DEFAULT_FEATURE_OPTIONS);
  log(
    `storeloop feature benchmark: ${path.relative(ROOT, args.data)}: ${rows} transactions, ${data.customers} customers, ${data.terminals} terminals ` +
      `(read in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s, untimed); ${names.length} features, windows ${DEFAULT_FEATURE_OPTIONS.windowsDays.join('/')} days, ` +
      `label delay ${DEFAULT_FEATURE_OPTIONS.labelDelayDays} days; best of ${args.repeats}`,
  );

  const quiet = await waitForQuiet(args, log);
  let best = Infinity;
  let values: Float32Array = new Float32Array(0);
  for (let run = 0; run < args.repeats; run++) {
    const started = performance.now();
    values = computeBatchFeatures(data.columns, labels).values;
    best = Math.min(best, (performance.now() - started) / 1000);
  }
  log(`  storeloop: ${best.toFixed(3)} s`);
  const results: EngineResult[] = [{ engine: 'storeloop', status: 'ok', version: process.version, threads: 1, seconds: best, rowsPerSecond: rows / best, load1: quiet.load1 }];
  const pythonEngines = args.engines.filter((e) => e !== 'storeloop');
  if (pythonEngines.length > 0) {
    await waitForQuiet(args, log);
    results.push(...runPythonEngines(args, pythonEngines, names, values, log));
  }

  const ours = results[0];
  const ratio = (engine: Engine) => {
    const other = results.find((r) => r.engine === engine && r.status === 'ok');
    return other ? ours.rowsPerSecond! / other.rowsPerSecond! : undefined;
  };
  const fmt = (x: number | undefined, digits: number) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
  const flagged = (load: number | undefined) => `${fmt(load, 2)}${load !== undefined && load >= args.maxLoad ? '!' : ''}`;
  log('');
  log(
    formatTable(
      ['engine', 'version', 'threads', 'seconds', 'rows/s', 'storeloop speed-up', 'max |diff| vs storeloop', 'agree', 'load 1m'],
      results.map((r) =>
        r.status === 'ok'
          ? [r.engine, r.version ?? '', String(r.threads), fmt(r.seconds, 3), fmt(r.rowsPerSecond, 0), r.engine === 'storeloop' ? '1.00' : fmt(ratio(r.engine), 2), r.comparison ? r.comparison.maxAbsDiff.toExponential(2) : '-', r.comparison ? (r.comparison.agree ? 'yes' : `no (${r.comparison.mismatches})`) : '-', flagged(r.load1)]
          : [r.engine, r.status, '', (r.reason ?? '').slice(0, 100), '', '', '', '', ''],
      ),
    ),
  );
  const compared = results.filter((r) => r.comparison);
  if (compared.length > 0) {
    log('');
    log(
      formatTable(
        ['feature', ...compared.map((r) => `max |diff| ${r.engine}`)],
        names.map((name) => [name, ...compared.map((r) => r.comparison!.maxAbsDiffByFeature[name].toExponential(2))]),
      ),
    );
  }
  log('');
  log(`seconds: the feature transform alone, best of ${args.repeats}; storeloop is single-threaded, pandas too, DuckDB uses ${args.threads} threads.`);
  log(`agree: every value within ${TOLERANCE} x max(1, |value|) of ours (ours float32, theirs float64). load 1m: before the engine ran ("!" = at or above ${args.maxLoad}).`);
  log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}`);

  const ok = (engine: Engine) => results.find((r) => r.engine === engine && r.status === 'ok');
  const summary = {
    dataset: path.relative(ROOT, args.data),
    rows,
    features: names,
    repeats: args.repeats,
    storeloopRowsPerSecond: ours.rowsPerSecond,
    duckdbRowsPerSecond: ok('duckdb')?.rowsPerSecond,
    pandasRowsPerSecond: ok('pandas')?.rowsPerSecond,
    ratioVsDuckdb: ratio('duckdb'),
    ratioVsPandas: ratio('pandas'),
    agree: compared.length > 0 && compared.every((r) => r.comparison!.agree),
    maxAbsDiff: compared.length > 0 ? Math.max(...compared.map((r) => r.comparison!.maxAbsDiff)) : undefined,
    tolerance: TOLERANCE,
    results,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
  };
  if (args.json) console.log(JSON.stringify(summary));
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
