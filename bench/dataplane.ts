/**
 * `npm run bench:dataplane -- [--json] [--scales 1,10,100] [--kinds next-item,transaction-risk] [--threads 1] [--heap-cap 0]`:
 * the data plane's throughput against DuckDB, on the same raw files, in one run.
 *
 * For each kind and scale it uploads the kind's synthetic store to the local S3 stack (scale 1
 * is about 72,000 event rows for every kind: next-item's 3,000 users, transaction-risk's 625
 * cards; scale N has N times the users or cards over the same days), then runs, each in a fresh
 * child process:
 *
 *   - storeloop's own collect and preprocess activities (the code the pipeline worker runs:
 *     S3 stream, gunzip/CSV parse, zod validation, date partitions written to S3 as Arrow; then
 *     the kind's preprocess reading those partitions back);
 *   - DuckDB (bench/dataplane/duckdb.ts) on the same files, downloaded from S3 to local disk
 *     beforehand (untimed), doing the same transforms with `--threads` threads.
 *
 * It prints rows/s and the child's peak RSS for each, and storeloop's rows/s over DuckDB's.
 * Both sides report the counts the transform produced (valid and quarantined rows; users,
 * items and interactions; transactions and duplicates), and a row whose counts differ is
 * flagged: a faster transform that did something else is not a result. Timings are of the
 * step alone, in the child, once its modules are loaded.
 *
 * Fan-out of collect or preprocess across the pipeline worker pool is not built yet: the
 * JSON's `fanOut.speedup` is null until it is (see the README's data-plane section).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command, InvalidArgumentError } from 'commander';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { ObjectStore } from '../activities/storage/object-store';
import { rawPrefix } from '../activities/collect/collect';
import { createActivities } from '../activities';
import { kindOf } from '../activities/model-kinds/registry';
import { DEFAULT_STORE, syntheticStoreFiles } from '../activities/model-kinds/next-item/synthetic';
import { EMBEDDED_SIMULATION, syntheticTransactionFiles } from '../activities/model-kinds/transaction-risk/synthetic';
import { loadConfig, PROJECT_ROOT } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { formatTable } from '../infra/text-table';
import { ensureSyntheticData } from '../sources/import';
import { parseLifecycleInput } from '../schemas/lifecycle-input';
import { collectSource, prepareRiskFeatures, prepareSequences, type DuckdbCounts } from './dataplane/duckdb';
import type { RawFile } from '../activities/model-kinds/contract';
import type { ArtifactRef } from '../schemas/artifacts';
import type { CollectResult, PreprocessResult, StepContext } from '../schemas/steps';

const MiB = 2 ** 20;

/** What the bench knows of a kind: its synthetic store at a scale, and how its preprocess counts compare. */
interface KindBench {
  files: (scale: number) => RawFile[];
  /** The event sources collect partitions (a table source such as a catalogue is not timed). */
  eventSources: string[];
  duckdbPreprocess: (db: DuckDBConnection, collected: string, out: string) => Promise<DuckdbCounts>;
  /** The collected rows storeloop's preprocess read, and its counts under the names DuckDB's use. */
  preprocessRows: (prepared: PreprocessResult) => number;
  preprocessCounts: (prepared: PreprocessResult) => Record<string, number>;
}

const KINDS: Record<string, KindBench> = {
  'next-item': {
    files: (scale) => syntheticStoreFiles({ ...DEFAULT_STORE, users: DEFAULT_STORE.users * scale }),
    eventSources: ['events'],
    duckdbPreprocess: prepareSequences,
    preprocessRows: ({ stats }) => stats.events,
    preprocessCounts: ({ stats }) => ({ users: stats.users, items: stats.items, interactions: stats.interactions }),
  },
  'transaction-risk': {
    // A quarter of the embedded store's cards is about as many rows as next-item's scale 1.
    files: (scale) => syntheticTransactionFiles({ ...EMBEDDED_SIMULATION, customers: (EMBEDDED_SIMULATION.customers / 4) * scale }),
    eventSources: ['transactions', 'labels'],
    duckdbPreprocess: prepareRiskFeatures,
    preprocessRows: ({ stats }) => stats.transactions + stats.duplicates + stats.afterCutoff,
    preprocessCounts: ({ stats }) => ({ transactions: stats.transactions, duplicates: stats.duplicates }),
  },
};

type Step = 'collect' | 'preprocess';
type Engine = 'storeloop' | 'duckdb';

/** One step in a child process, as the child reports it. */
interface Measured {
  rows: number;
  seconds: number;
  /** RSS once the modules are loaded, before the step runs. */
  startRssMiB: number;
  peakRssMiB: number;
  counts: Record<string, number>;
  snapshot?: ArtifactRef;
}

interface ChildJob {
  task: 'upload' | Step;
  engine: Engine;
  kind: string;
  scale: number;
  dataset: string;
  /** Local folder of the DuckDB side: raw/ (downloaded), collected/, prepared/. */
  dir: string;
  threads: number;
  snapshot?: ArtifactRef;
}

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const nonNegativeInt = (value: string) => (value === '0' ? 0 : positiveInt(value));
const kindList = (value: string) => {
  const kinds = value.split(',').filter(Boolean);
  for (const k of kinds) if (!(k in KINDS)) throw new InvalidArgumentError(`no data-plane bench for kind ${k}; known: ${Object.keys(KINDS).join(', ')}`);
  return kinds;
};

const rawDir = (job: ChildJob) => path.join(job.dir, 'raw');
const collectedDir = (job: ChildJob) => path.join(job.dir, 'collected');

function stepContext(job: ChildJob): StepContext {
  return { config: parseLifecycleInput({ dataset: job.dataset, kind: job.kind, force: true }), workflowId: 'bench-dataplane', runId: 'bench', startedAt: new Date().toISOString() };
}

/** The child's side: one task, then its measurement as JSON on the last stdout line. */
async function runJob(job: ChildJob): Promise<void> {
  const log = createLogger('bench-dataplane');
  const store = new ObjectStore(loadConfig().s3);
  const bench = KINDS[job.kind];
  try {
    if (job.task === 'upload') {
      await ensureSyntheticData(store, job.dataset, kindOf(job.kind), bench.files(job.scale));
      process.stdout.write('{}\n');
      return;
    }
    const activities = createActivities({ store, log });
    const db = job.engine === 'duckdb' ? await (await DuckDBInstance.create(':memory:', { threads: String(job.threads) })).connect() : undefined;
    const startRssMiB = process.memoryUsage().rss / MiB;
    const started = process.hrtime.bigint();
    let result: Omit<Measured, 'seconds' | 'startRssMiB' | 'peakRssMiB'>;
    if (job.engine === 'storeloop' && job.task === 'collect') {
      const collected = await activities.collect(stepContext(job));
      result = { rows: collected.rowsImported + collected.quarantinedRows, counts: { valid: collected.rowsImported, quarantined: collected.quarantinedRows }, snapshot: collected.snapshot };
    } else if (job.engine === 'storeloop') {
      const prepared = await activities.preprocess(stepContext(job), { snapshot: job.snapshot! } as CollectResult);
      result = { rows: bench.preprocessRows(prepared), counts: bench.preprocessCounts(prepared) };
    } else if (job.task === 'collect') {
      const counts = { rows: 0, valid: 0, quarantined: 0 };
      for (const source of bench.eventSources) {
        const files = (await store.list(rawPrefix(job.dataset, source))).map((o) => path.join(rawDir(job), o.key));
        const one = await collectSource(db!, source, files, collectedDir(job));
        for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += one[k];
      }
      result = { rows: counts.rows, counts: { valid: counts.valid, quarantined: counts.quarantined } };
    } else {
      result = await bench.duckdbPreprocess(db!, collectedDir(job), path.join(job.dir, 'prepared'));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const measured: Measured = { ...result, seconds, startRssMiB, peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB };
    process.stdout.write(`${JSON.stringify(measured)}\n`);
  } finally {
    store.client.destroy();
  }
}

async function inChild(job: ChildJob, heapCapMiB: number): Promise<Measured> {
  const heapCap = heapCapMiB > 0 ? [`--max-old-space-size=${heapCapMiB}`] : [];
  // Generating the 100x store holds its events in memory before they become files.
  const flags = job.task === 'upload' ? ['--max-old-space-size=16384'] : heapCap;
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'dataplane.ts'), '--child', JSON.stringify(job)], {
    cwd: PROJECT_ROOT,
    maxBuffer: 64 * MiB,
    env: { ...process.env, STORELOOP_LOG_LEVEL: process.env.STORELOOP_LOG_LEVEL ?? 'warn' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Measured;
}

/** The raw files as they are in S3, to local disk for DuckDB: the same bytes both engines read. */
async function downloadRaw(store: ObjectStore, job: ChildJob, sources: string[]): Promise<number> {
  let bytes = 0;
  for (const source of sources) {
    for (const object of await store.list(rawPrefix(job.dataset, source))) {
      const file = path.join(rawDir(job), object.key);
      mkdirSync(path.dirname(file), { recursive: true });
      const found = await store.getWithEtag(object.key);
      if (!found) throw new Error(`${object.key} vanished during the bench`);
      writeFileSync(file, found.bytes);
      bytes += found.bytes.byteLength;
    }
  }
  return bytes;
}

interface StepRow {
  step: Step;
  kind: string;
  scale: number;
  rows: number;
  rowsPerSecond: number;
  duckdbRowsPerSecond: number;
  ratioVsDuckdb: number;
  peakRssMiB: number;
  duckdbPeakRssMiB: number;
  seconds: number;
  duckdbSeconds: number;
  /** Both engines produced the same counts. */
  agree: boolean;
  counts: Record<string, number>;
  duckdbCounts: Record<string, number>;
  load1: number;
}

function stepRow(step: Step, kind: string, scale: number, ours: Measured, duckdb: Measured, load1: number): StepRow {
  const rowsPerSecond = ours.rows / ours.seconds;
  const duckdbRowsPerSecond = duckdb.rows / duckdb.seconds;
  const agree = ours.rows === duckdb.rows && Object.entries(ours.counts).every(([k, v]) => duckdb.counts[k] === v);
  return {
    step,
    kind,
    scale,
    rows: ours.rows,
    rowsPerSecond,
    duckdbRowsPerSecond,
    ratioVsDuckdb: rowsPerSecond / duckdbRowsPerSecond,
    peakRssMiB: ours.peakRssMiB,
    duckdbPeakRssMiB: duckdb.peakRssMiB,
    seconds: ours.seconds,
    duckdbSeconds: duckdb.seconds,
    agree,
    counts: ours.counts,
    duckdbCounts: duckdb.counts,
    load1,
  };
}

async function main(): Promise<void> {
  const options = new Command('bench:dataplane')
    .option('--json', 'print one JSON object on the last stdout line', false)
    .option('--scales <list>', 'input sizes, as multiples of scale 1 (about 72,000 rows)', (v: string) => v.split(',').map((s) => positiveInt(s.trim())), [1, 10, 100])
    .option('--kinds <list>', 'kinds whose collect and preprocess are measured', kindList, Object.keys(KINDS))
    .option('--threads <n>', "DuckDB's threads (storeloop's steps are single-threaded)", positiveInt, 1)
    .option('--heap-cap <MiB>', "storeloop children's V8 old-space limit (0: V8's default)", nonNegativeInt, 0)
    .option('--child <job>', 'internal: run one task in this process')
    .parse()
    .opts<{ json: boolean; scales: number[]; kinds: string[]; threads: number; heapCap: number; child?: string }>();
  if (options.child) return runJob(JSON.parse(options.child) as ChildJob);

  const say = (line: string) => (options.json ? console.error(line) : console.log(line));
  const config = loadConfig();
  await stackUp(createLogger('bench-dataplane'), config);
  const store = new ObjectStore(config.s3);
  const work = path.join(os.tmpdir(), `storeloop-bench-dataplane-${process.pid}`);
  const rows: StepRow[] = [];
  try {
    for (const kind of options.kinds) {
      for (const scale of options.scales) {
        const dataset = `bench-dataplane-${kind}-${scale}x`;
        const job: ChildJob = { task: 'upload', engine: 'storeloop', kind, scale, dataset, dir: path.join(work, dataset), threads: options.threads };
        say(`${kind} ${scale}x: uploading the synthetic store (once per size)...`);
        await inChild(job, 0);
        const rawMiB = (await downloadRaw(store, job, KINDS[kind].eventSources)) / MiB;
        // Collect is incremental: forget what an earlier run imported, so it reads every file.
        await store.deletePrefix(`state/${dataset}/`);
        await store.deletePrefix(`datasets/${dataset}/`);
        const measure = async (task: Step, engine: Engine, snapshot?: ArtifactRef) => {
          const load1 = os.loadavg()[0];
          const m = await inChild({ ...job, task, engine, snapshot }, engine === 'storeloop' ? options.heapCap : 0);
          say(`  ${task.padEnd(10)} ${engine.padEnd(9)} ${m.rows} rows in ${m.seconds.toFixed(2)} s, peak RSS ${m.peakRssMiB.toFixed(0)} MiB (load ${load1.toFixed(2)})`);
          return { m, load1 };
        };
        say(`${kind} ${scale}x: ${rawMiB.toFixed(1)} MiB of raw CSV`);
        const collect = await measure('collect', 'storeloop');
        const preprocess = await measure('preprocess', 'storeloop', collect.m.snapshot);
        const duckCollect = await measure('collect', 'duckdb');
        const duckPreprocess = await measure('preprocess', 'duckdb');
        rows.push(stepRow('collect', kind, scale, collect.m, duckCollect.m, (collect.load1 + duckCollect.load1) / 2));
        rows.push(stepRow('preprocess', kind, scale, preprocess.m, duckPreprocess.m, (preprocess.load1 + duckPreprocess.load1) / 2));
        rmSync(job.dir, { recursive: true, force: true });
      }
    }
  } finally {
    store.client.destroy();
    rmSync(work, { recursive: true, force: true });
  }

  const int = (x: number) => Math.round(x).toLocaleString('en-US');
  say('');
  say(
    formatTable(
      ['kind', 'step', 'scale', 'rows', 'storeloop rows/s', 'DuckDB rows/s', 'ratio', 'storeloop peak RSS MiB', 'DuckDB peak RSS MiB', 'same counts', 'load 1m'],
      rows.map((r) => [r.kind, r.step, `${r.scale}x`, int(r.rows), int(r.rowsPerSecond), int(r.duckdbRowsPerSecond), r.ratioVsDuckdb.toFixed(2), int(r.peakRssMiB), int(r.duckdbPeakRssMiB), r.agree ? 'yes' : 'NO', r.load1.toFixed(2)]),
    ),
  );
  for (const r of rows.filter((x) => !x.agree)) say(`counts differ for ${r.kind} ${r.step} ${r.scale}x: storeloop ${JSON.stringify(r.counts)}, DuckDB ${JSON.stringify(r.duckdbCounts)}`);
  say('');
  say(`ratio: storeloop rows/s over DuckDB's (${options.threads} thread${options.threads > 1 ? 's' : ''}); storeloop runs single-threaded and reads and writes S3 on loopback, DuckDB local files.`);
  say(`rows: rows the step read (collect: raw rows, valid or not; preprocess: collected rows). Peak RSS: the child process's, modules included.`);
  say(`fan-out across pipeline workers: not built yet, so not measured.`);
  say(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (options.json) {
    console.log(JSON.stringify({ steps: rows, fanOut: { workers: 2, speedup: null }, threads: options.threads, heapCapMiB: options.heapCap, cpus: os.cpus().length }));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
