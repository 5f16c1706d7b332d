/**
 * Memory benchmark: `npm run bench:memory -- [--users 3000] [--scales 1,10] [--heap-cap 256]`.
 *
 * Uploads the synthetic store at each scale (users x scale, same days, so every raw file
 * grows with it) to the local S3 stack, then runs the pipeline's own collect and
 * preprocess steps, each in a fresh child process, and prints input rows against the
 * child's peak RSS (process.resourceUsage().maxRSS).
 *
 * V8 collects lazily: without a limit the heap grows with the garbage a step makes, so
 * peak RSS says little about what the step keeps. `--heap-cap` runs the children with
 * that old-space limit: a step that streams stays under it at every scale, one that
 * holds its whole input runs out of memory.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Command, InvalidArgumentError } from 'commander';
import { ObjectStore } from '../activities/storage/object-store';
import { rawPrefix } from '../activities/collect/collect';
import { createActivities } from '../activities';
import { nextItemKind } from '../activities/model-kinds/next-item';
import { loadConfig, PROJECT_ROOT } from '../infra/config';
import { stackUp } from '../infra/local-stack';
import { createLogger } from '../infra/logger';
import { ensureSyntheticData } from '../sources/import';
import { DEFAULT_STORE, syntheticStoreFiles } from '../activities/model-kinds/next-item/synthetic';
import { parseLifecycleInput } from '../schemas/lifecycle-input';
import type { ArtifactRef } from '../schemas/artifacts';
import type { CollectResult, StepContext } from '../schemas/steps';

const MiB = 2 ** 20;

interface StepMeasurement {
  step: 'collect' | 'preprocess';
  rows: number;
  seconds: number;
  /** RSS once the modules are loaded, before the step runs. */
  startRssMiB: number;
  peakRssMiB: number;
  snapshot?: ArtifactRef;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

function positiveInt(value: string): number {
  const n = nonNegativeInt(value);
  if (n === 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function scaleList(value: string): number[] {
  return value.split(',').map((s) => positiveInt(s.trim()));
}

const datasetFor = (users: number) => `bench-memory-${users}-users`;

/** Child process: one step, then its measurement as JSON on stdout. */
async function measureStep(step: StepMeasurement['step'], dataset: string, snapshotJson?: string): Promise<void> {
  const log = createLogger('bench-memory');
  const store = new ObjectStore(loadConfig().s3);
  const config = parseLifecycleInput({ dataset, force: true });
  const ctx: StepContext = { config, workflowId: 'bench-memory', runId: 'bench', startedAt: new Date().toISOString() };
  const activities = createActivities({ store, log });
  const startRssMiB = process.memoryUsage().rss / MiB;
  const started = Date.now();
  let measurement: Omit<StepMeasurement, 'startRssMiB' | 'peakRssMiB' | 'seconds'>;
  if (step === 'collect') {
    const collected = await activities.collect(ctx);
    measurement = { step, rows: collected.rowsImported, snapshot: collected.snapshot };
  } else {
    const prepared = await activities.preprocess(ctx, { snapshot: JSON.parse(snapshotJson!) as ArtifactRef } as CollectResult);
    measurement = { step, rows: prepared.stats.events };
  }
  const result: StepMeasurement = { ...measurement, seconds: (Date.now() - started) / 1000, startRssMiB, peakRssMiB: (process.resourceUsage().maxRSS * 1024) / MiB };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  store.client.destroy();
}

async function runChild(heapCapMiB: number, args: string[]): Promise<StepMeasurement | 'out of memory'> {
  const heapCap = heapCapMiB > 0 ? [`--max-old-space-size=${heapCapMiB}`] : [];
  const child = promisify(execFile)(process.execPath, [...heapCap, '--import', 'tsx', path.join(PROJECT_ROOT, 'bench', 'memory.ts'), ...args], {
    cwd: PROJECT_ROOT,
    maxBuffer: 16 * MiB,
  });
  try {
    const { stdout } = await child;
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as StepMeasurement;
  } catch (error) {
    if (/heap out of memory/.test(String((error as { stderr?: string }).stderr))) return 'out of memory';
    throw error;
  }
}

async function main(): Promise<void> {
  const program = new Command('bench:memory')
    .option('--users <n>', 'users of the synthetic store at scale 1', positiveInt, DEFAULT_STORE.users)
    .option('--scales <list>', 'input sizes, as multiples of scale 1', scaleList, [1, 10])
    .option('--heap-cap <MiB>', "the children's V8 old-space limit (0: V8's default)", nonNegativeInt, 256)
    .option('--json', 'print one JSON object on the last stdout line')
    .option('--child <step>', 'internal: measure one step in this process')
    .option('--dataset <name>', 'internal: the dataset the child measures')
    .option('--snapshot <json>', 'internal: the collected snapshot preprocess reads')
    .parse();
  const options = program.opts<{ users: number; scales: number[]; heapCap: number; json?: boolean; child?: StepMeasurement['step']; dataset?: string; snapshot?: string }>();
  if (options.child) return measureStep(options.child, options.dataset!, options.snapshot);

  const log = createLogger('bench-memory');
  const config = loadConfig();
  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const rows: { scale: number; users: number; rawMiB: number; collect: StepMeasurement | 'out of memory'; preprocess: StepMeasurement | 'out of memory' }[] = [];
  for (const scale of options.scales) {
    const users = options.users * scale;
    const dataset = datasetFor(users);
    log.info({ dataset }, 'uploading the synthetic store (once per size)');
    await ensureSyntheticData(store, dataset, nextItemKind, syntheticStoreFiles({ ...DEFAULT_STORE, users }));
    const rawMiB = (await store.list(rawPrefix(dataset, 'events'))).reduce((n, o) => n + o.size, 0) / MiB;
    // Collect is incremental: forget what an earlier benchmark imported, so it reads every file.
    await store.deletePrefix(`state/${dataset}/`);
    await store.deletePrefix(`datasets/${dataset}/`);
    const collect = await runChild(options.heapCap, ['--child', 'collect', '--dataset', dataset]);
    if (collect === 'out of memory') {
      rows.push({ scale, users, rawMiB, collect, preprocess: 'out of memory' });
      continue;
    }
    const preprocess = await runChild(options.heapCap, ['--child', 'preprocess', '--dataset', dataset, '--snapshot', JSON.stringify(collect.snapshot)]);
    rows.push({ scale, users, rawMiB, collect, preprocess });
  }
  store.client.destroy();

  const cell = (m: StepMeasurement | 'out of memory') => (m === 'out of memory' ? m : `${m.peakRssMiB.toFixed(0)} (${m.seconds.toFixed(1)} s)`);
  console.log(`\nHeap cap: ${options.heapCap > 0 ? `${options.heapCap} MiB` : "V8's default"}`);
  console.log('| input | users | event rows | raw CSV MiB | collect: peak RSS MiB (time) | preprocess: peak RSS MiB (time) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const events = r.collect === 'out of memory' ? '?' : r.collect.rows;
    console.log(`| ${r.scale}x | ${r.users} | ${events} | ${r.rawMiB.toFixed(1)} | ${cell(r.collect)} | ${cell(r.preprocess)} |`);
  }
  const idle = rows.map((r) => r.collect).find((m): m is StepMeasurement => m !== 'out of memory');
  if (idle) console.log(`\nRSS of a child with its modules loaded, before any work: ${idle.startRssMiB.toFixed(0)} MiB`);
  if (options.json) console.log(JSON.stringify({ rows }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
