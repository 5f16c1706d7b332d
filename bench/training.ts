/**
 * `npm run bench:training [-- --json] [--steps N] [--hp JSON]`: training speed of the pipeline's
 * default recommender (RecommenderHyperparameters.parse({}), or `--hp` over it) on Amazon Beauty,
 * side by side:
 *
 *   - ours: `trainNextItemModel` (ml/train.ts; SASRec, ml/sasrec.ts) with `maxSteps`, once per TensorFlow.js
 *     backend, each in its own child process (the backend is chosen once per process);
 *   - the same architecture in TensorFlow/Keras and in PyTorch (bench/reference/, a venv
 *     outside the repo made by bench/reference/setup.sh), fed the exact batch sequence that
 *     our trainer runs (written to a temporary "plan");
 *   - this machine's float32 matrix-product peak (numpy, and the native tfjs backend).
 *
 * samples = non-padding target positions (next-item predictions) in the timed steps; the
 * first `--warmup` steps (default 10; 1 for the pure-JS cpu backend) are not timed.
 *
 * FLOPs (analytic, matrix products only; see trainingFlopsPerStep): per padded position of
 * a batch with padded length L, the encoder's forward pass costs
 *     E(L) = blocks * (12 d^2 + 4 L d)
 * (q/k/v/output projections 4 * 2d^2, FFN 2 * 2d^2, scores q k^T and weights * v 2 * 2Ld over
 * all L keys as the dense implementation computes them); the output layer costs 2 d C per
 * real target, C = every item (full softmax) or the target + S sampled negatives. Training =
 * forward + backward ~ 3 x forward: a step of B rows and T targets costs 3 (B L E(L) + 2 d C T).
 * Layer norms, softmax, dropout, gathers and the Adam update are left out. Padded positions
 * count in the encoder because every implementation computes them there; all three gather
 * the real targets before the output layer. GFLOP/s = sum over the timed steps / timed seconds.
 *
 * Load: the machine is shared, so before each measurement the bench waits (up to
 * --max-wait seconds) until the 1-minute load average is below --max-load (1.0), and records
 * the load next to every number.
 *
 * Options (`--help` lists them): --json, --steps N (100), --warmup N (10), --cpu-steps N (3), --backends
 * tensorflow,cpu,wasm (add tensorflow-gpu on a GPU machine), --no-reference, --data FILE,
 * --max-load X, --max-wait S, --child-timeout S (900: a run still going then is killed and
 * reported failed, or measured on the steps it finished), --cpu-timeout S (600, the same for
 * the pure-JS cpu backend), --python PATH.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Command, InvalidArgumentError } from 'commander';
import { RecommenderHyperparameters } from '../ml/sequence/hyperparameters';
import { formatTable } from '../infra/text-table';
import { datasetPath, missingDatasetReason } from '../infra/datasets';
import { SequenceBuilder, trainingSequences } from '../activities/model-kinds/next-item/sequences';
import { sequenceFileToEvents } from '../sources/sequence-file';
import { makeBatches, trainNextItemModel, useSampledSoftmax } from '../ml/sequence/train';
import { seededRng, shuffled } from '../ml/random';

const ROOT = path.resolve(__dirname, '..');
const DEFAULT_DATA = datasetPath('amazon-beauty', 'sequences.txt');
const DEFAULT_VENV = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'storeloop', 'bench-venv');

type Hp = RecommenderHyperparameters;

// ---------------------------------------------------------------- FLOP model

/** Forward FLOPs (matrix products) of the encoder per padded position for padded length `length`. */
export function encoderFlopsPerPosition(hp: Pick<Hp, 'hiddenDim' | 'blocks'>, length: number): number {
  const d = hp.hiddenDim;
  return hp.blocks * (12 * d * d + 4 * length * d);
}

/** Output candidates per target: the target + sampled negatives, or every item. */
export function outputCandidates(hp: Pick<Hp, 'sampledNegatives'>, numItems: number, sampled: boolean): number {
  return sampled ? hp.sampledNegatives + 1 : numItems;
}

/**
 * Training FLOPs (forward + backward = 3 x forward) of one optimizer step on a [rows, length]
 * batch with `targets` real (non-padding) targets: the encoder runs on every padded
 * position, the output layer only on the targets.
 */
export function trainingFlopsPerStep(hp: Pick<Hp, 'hiddenDim' | 'blocks'>, rows: number, length: number, targets: number, candidates: number): number {
  return 3 * (rows * length * encoderFlopsPerPosition(hp, length) + targets * 2 * hp.hiddenDim * candidates);
}

// ---------------------------------------------------------------- data and plan

interface PlanStep {
  batch: number;
  rows: number;
  length: number;
  positions: number;
}

interface Prepared {
  hp: Hp;
  numItems: number;
  users: number;
  sequences: Int32Array[];
  batches: ReturnType<typeof makeBatches>;
  sampled: boolean;
}

/** The pipeline's path from a sequence file to training sequences (preprocess step). */
export function prepare(dataFile: string, hp: Hp): Prepared {
  const builder = new SequenceBuilder();
  for (const e of sequenceFileToEvents(path.basename(dataFile), readFileSync(dataFile, 'utf8'))) {
    builder.add({ userId: e.user_id, itemId: e.item_id, eventType: e.event_type, timestamp: Number(e.timestamp) });
  }
  const data = builder.build();
  const sequences = trainingSequences(data);
  const numItems = data.itemIds.length;
  return { hp, numItems, users: data.userIds.length, sequences, batches: makeBatches(sequences, hp.maxLen, hp.batchSize), sampled: useSampledSoftmax(hp, numItems) };
}

/**
 * The batches `trainNextItemModel` takes in its first `steps` steps: it shuffles the batch order
 * with seededRng(`${model}-${seed}`) at each epoch start and then draws, per step, the
 * sampled negatives and one dropout seed from the same generator. Replayed here exactly.
 */
export function stepPlan(p: Prepared, steps: number): PlanStep[] {
  const rng = seededRng(`${p.hp.model}-${p.hp.seed}`);
  const plan: PlanStep[] = [];
  const indices = p.batches.map((_, i) => i);
  for (let epoch = 1; epoch <= p.hp.epochs && plan.length < steps; epoch++) {
    for (const index of shuffled(indices, rng)) {
      if (plan.length >= steps) break;
      const b = p.batches[index];
      plan.push({ batch: index, rows: b.rows, length: b.length, positions: b.positions });
      if (p.sampled) for (let k = 0; k < p.hp.sampledNegatives; k++) rng();
      rng();
    }
  }
  return plan;
}

export function writePlan(dir: string, p: Prepared, plan: PlanStep[]): string {
  const prefix = path.join(dir, 'plan');
  const parts: Int32Array[] = [];
  let offset = 0;
  const steps = plan.map((s) => {
    const b = p.batches[s.batch];
    parts.push(b.inputs, b.targets);
    const entry = { ...s, offset };
    offset += b.inputs.length + b.targets.length;
    return entry;
  });
  writeFileSync(`${prefix}.bin`, Buffer.concat(parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
  writeFileSync(`${prefix}.json`, JSON.stringify({ numItems: p.numItems, hp: p.hp, sampled: p.sampled, steps }));
  return prefix;
}

// ---------------------------------------------------------------- child: our trainer on one backend

interface RunResult {
  implementation: string;
  backend: string;
  status: 'ok' | 'unavailable' | 'failed';
  reason?: string;
  steps?: number;
  warmupSteps?: number;
  timedSteps?: number;
  timedSeconds?: number;
  timedSamples?: number;
  firstLoss?: number;
  lastLoss?: number;
  [key: string]: unknown;
}

async function child(args: Args): Promise<void> {
  const backendName = args.backend!;
  process.env.STORELOOP_TF_BACKEND = backendName;
  if (backendName.startsWith('tensorflow')) process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const { selectBackend } = await import('../ml/backend');
  const tf = await import('@tensorflow/tfjs');
  const out: RunResult = { implementation: 'storeloop', backend: backendName, status: 'ok' };
  try {
    const info = await selectBackend(undefined, backendName);
    out.tfBackend = info.tfBackend;
    out.tfjs = info.version;
  } catch (error) {
    out.status = 'unavailable';
    out.reason = (error as Error).message.split('; ').find((s) => s.startsWith(`${backendName}:`)) ?? (error as Error).message;
    console.log(JSON.stringify(out));
    return;
  }
  try {
    const hp = args.hp;
    const p = prepare(args.data, hp);
    const plan = stepPlan(p, args.steps);
    const warmup = Math.min(args.warmup, plan.length - 1);
    const stamps: number[] = [];
    const losses: number[] = [];
    const started = performance.now();
    const result = await trainNextItemModel({
      hyperparameters: hp,
      numItems: p.numItems,
      sequences: p.sequences,
      validation: [],
      maxSteps: plan.length,
      onStep: (_epoch: number, _step: number, _steps: number, loss: number) => {
        stamps.push(performance.now());
        losses.push(loss);
        // Progress, so that a run killed by --child-timeout still yields the steps it finished.
        console.log(`PROGRESS ${JSON.stringify({ step: stamps.length, seconds: (stamps[stamps.length - 1] - started) / 1000, loss })}`);
      },
    });
    result.model.dispose();
    if (result.steps !== plan.length) throw new Error(`trainNextItemModel took ${result.steps} steps, plan has ${plan.length}`);
    const t0 = warmup > 0 ? stamps[warmup - 1] : started;
    Object.assign(out, {
      steps: plan.length,
      warmupSteps: warmup,
      timedSteps: plan.length - warmup,
      timedSeconds: (stamps[stamps.length - 1] - t0) / 1000,
      timedSamples: plan.slice(warmup).reduce((n, s) => n + s.positions, 0),
      firstLoss: losses[0],
      lastLoss: losses[losses.length - 1],
      // What the training activity itself reports (all steps, first ones included).
      pipelineSamplesPerSecond: result.samples / result.stepSeconds,
      backend: backendName,
    });
    if (backendName.startsWith('tensorflow')) out.matmulPeak = matmulRate(tf, 2048, 3);
  } catch (error) {
    out.status = 'failed';
    out.reason = (error as Error).message.split('\n')[0];
  }
  console.log(JSON.stringify(out));
}

/** Best-of float32 n x n matMul rate on the current tfjs backend, GFLOP/s. */
function matmulRate(tf: typeof import('@tensorflow/tfjs'), n: number, seconds: number): { n: number; gflops: number } {
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  tf.matMul(a, b).dataSync();
  let best = Infinity;
  const deadline = performance.now() + seconds * 1000;
  for (let runs = 0; runs < 3 || performance.now() < deadline; runs++) {
    const t = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  tf.dispose([a, b]);
  return { n, gflops: (2 * n ** 3) / best / 1e9 };
}

// ---------------------------------------------------------------- parent

interface Args {
  json: boolean;
  steps: number;
  warmup: number;
  cpuSteps: number;
  backends: string[];
  reference: boolean;
  data: string;
  hp: Hp;
  maxLoad: number;
  maxWait: number;
  childTimeout: number;
  cpuTimeout: number;
  python: string;
  child: boolean;
  backend?: string;
}

function parseArgs(argv: string[]): Args {
  const count = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
    return n;
  };
  const program = new Command('bench:training')
    .option('--json', 'print one JSON object on the last stdout line', false)
    .option('--steps <n>', 'timed + warm-up optimizer steps per implementation', count, 100)
    .option('--warmup <n>', 'untimed warm-up steps', count, 10)
    .option('--cpu-steps <n>', 'steps for the slow pure-JS cpu backend', count, 3)
    .option('--backends <list>', 'our backends to run, comma-separated', (v: string) => v.split(',').filter(Boolean), ['tensorflow', 'cpu', 'wasm'])
    .option('--no-reference', 'skip the Keras and PyTorch references')
    .option('--data <file>', 'sequences file', (v: string) => path.resolve(v), DEFAULT_DATA)
    .option('--hp <json>', 'hyperparameters overriding the pipeline defaults, e.g. \'{"softmax":"sampled"}\'', (v: string) => RecommenderHyperparameters.parse(JSON.parse(v)), RecommenderHyperparameters.parse({}))
    .option('--max-load <x>', 'wait until the 1-minute load average is below this', Number, 1.0)
    .option('--max-wait <s>', 'longest wait for a quiet machine (then measure, marked)', Number, 600)
    .option('--child-timeout <s>', 'kill a run still going after this many seconds', Number, 900)
    .option('--cpu-timeout <s>', 'the same for the cpu backend', Number, 600)
    .option('--python <path>', 'python of the reference virtualenv', process.env.STORELOOP_BENCH_PYTHON ?? path.join(DEFAULT_VENV, 'bin', 'python'))
    .option('--child', 'internal: run one of our backends in this process', false)
    .option('--backend <name>', 'internal: the backend of a --child run')
    .parse(argv, { from: 'user' });
  const a = program.opts<Args>();
  if (a.steps < 2) throw new Error('--steps must be at least 2');
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the 1-minute load average is below maxLoad (or maxWait passes); returns it. */
async function waitForQuiet(args: Args, log: (s: string) => void): Promise<{ load1: number; waitedSeconds: number; belowLimit: boolean }> {
  const start = Date.now();
  let said = false;
  for (;;) {
    const load1 = os.loadavg()[0];
    const waited = (Date.now() - start) / 1000;
    if (load1 < args.maxLoad) return { load1, waitedSeconds: Math.round(waited), belowLimit: true };
    if (waited >= args.maxWait) {
      log(`  load average still ${load1.toFixed(2)} after ${Math.round(waited)} s; measuring anyway (flagged)`);
      return { load1, waitedSeconds: Math.round(waited), belowLimit: false };
    }
    if (!said) log(`  waiting for the 1-minute load average (${load1.toFixed(2)}) to drop below ${args.maxLoad}...`);
    said = true;
    await sleep(5000);
  }
}

interface ProcessResult {
  code: number | null;
  last?: Record<string, unknown>;
  tail: string;
  progress: { step: number; seconds: number; loss: number }[];
}

function runProcess(command: string, argv: string[], env: NodeJS.ProcessEnv, log: (s: string) => void, timeoutSeconds = 0): Promise<ProcessResult> {
  return new Promise((resolve) => {
    // Own process group, so that a timeout ends the child and whatever it started (tsx runs node).
    const proc = spawn(command, argv, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            stderr += `timed out after ${timeoutSeconds} s (--child-timeout)`;
            try {
              process.kill(-proc.pid!, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, timeoutSeconds * 1000)
        : undefined;
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.on('error', (e) => {
      stderr += e.message;
    });
    proc.on('close', (code) => {
      if (timer) clearTimeout(timer);
      const all = stdout.trim().split('\n');
      const progress = all.filter((l) => l.startsWith('PROGRESS ')).map((l) => JSON.parse(l.slice(9)));
      const lines = all.filter((l) => !l.startsWith('PROGRESS '));
      let last: Record<string, unknown> | undefined;
      try {
        last = JSON.parse(lines[lines.length - 1]);
      } catch {
        last = undefined;
      }
      const tail = (stderr.trim().split('\n').slice(-3).join(' | ') || lines.slice(-3).join(' | ')).slice(0, 400);
      if (code !== 0) log(`  exit ${code}: ${tail}`);
      resolve({ code, last, tail, progress });
    });
  });
}

interface Row extends RunResult {
  loadBefore?: number;
  loadAfter?: number;
  loadBelowLimit?: boolean;
  samplesPerSecond?: number;
  gflops?: number;
  flopsPerSample?: number;
  percentOfPeak?: number;
}

async function measure(
  label: string,
  names: { implementation: string; backend: string },
  args: Args,
  run: () => Promise<ProcessResult>,
  log: (s: string) => void,
  warmup = 0,
  plan: PlanStep[] = [],
): Promise<Row> {
  log(`${label}`);
  const quiet = await waitForQuiet(args, log);
  const r = await run();
  const loadAfter = os.loadavg()[0];
  let row: Row;
  if (r.last && typeof r.last === 'object' && 'status' in r.last) row = r.last as unknown as Row;
  else if (r.last && r.code === 0) row = { status: 'ok', ...names, ...(r.last as object) } as Row;
  else if (r.progress.length > warmup && warmup > 0) {
    // Killed (timeout) after some steps: measure the steps it finished.
    const done = r.progress.length;
    row = {
      ...names,
      status: 'ok',
      steps: done,
      warmupSteps: warmup,
      timedSteps: done - warmup,
      timedSeconds: r.progress[done - 1].seconds - r.progress[warmup - 1].seconds,
      timedSamples: plan.slice(warmup, done).reduce((n, s) => n + s.positions, 0),
      note: `stopped by --child-timeout after ${done} steps; measured on those`,
    };
  } else {
    const lastStep = r.progress[r.progress.length - 1];
    row = { ...names, status: 'failed', reason: `exit ${r.code}: ${r.tail}${lastStep ? ` (${lastStep.step} steps in ${lastStep.seconds.toFixed(0)} s)` : ' (no step finished)'}` };
  }
  return { ...row, loadBefore: +quiet.load1.toFixed(2), loadAfter: +loadAfter.toFixed(2), loadBelowLimit: quiet.belowLimit };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args);
  // Progress goes to stderr with --json so that stdout ends with the one JSON line.
  const log = (s: string) => (args.json ? console.error(s) : console.log(s));
  const missing = missingDatasetReason(args.data);
  if (missing) throw new Error(missing);
  const hp = args.hp;
  const p = prepare(args.data, hp);
  const candidates = outputCandidates(hp, p.numItems, p.sampled);
  const plan = stepPlan(p, args.steps);
  const flopsOf = (steps: PlanStep[]) => steps.reduce((n, s) => n + trainingFlopsPerStep(hp, s.rows, s.length, s.positions, candidates), 0);
  log(
    `storeloop training benchmark: ${path.relative(ROOT, args.data)}: ${p.users} users, ${p.numItems} items, ${p.batches.length} batches/epoch; ` +
      `hyperparameters (d ${hp.hiddenDim}, ${hp.blocks} blocks, ${hp.heads} head, maxLen ${hp.maxLen}, batch ${hp.batchSize}, ` +
      `${p.sampled ? `sampled softmax, ${hp.sampledNegatives} negatives` : 'full softmax'}); ${plan.length} steps, ${args.warmup} warm-up`,
  );

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'storeloop-bench-'));
  const rows: Row[] = [];
  const peaks: Record<string, unknown>[] = [];
  try {
    const tsx = path.join(ROOT, 'node_modules', '.bin', 'tsx');
    const runOurs = async (backend: string) => {
      const isCpu = backend === 'cpu';
      const steps = isCpu ? Math.min(args.cpuSteps, args.steps) : args.steps;
      const warmup = isCpu ? Math.min(1, args.warmup) : args.warmup;
      const row = await measure(
        `ours on ${backend}: ${steps} steps`,
        { implementation: 'storeloop', backend },
        args,
        () => runProcess(tsx, [__filename, '--child', '--backend', backend, '--steps', String(steps), '--warmup', String(warmup), '--data', args.data, '--hp', JSON.stringify(args.hp)], { ...process.env }, log, isCpu ? args.cpuTimeout : args.childTimeout),
        log,
        warmup,
        plan,
      );
      if (isCpu && steps < args.steps) row.note = `${row.note ? `${row.note}; ` : ''}pure-JS backend: only ${steps} steps (${warmup} warm-up), the first ${steps} of the plan`;
      if (row.matmulPeak) peaks.push({ implementation: `tfjs ${backend} matMul`, ...(row.matmulPeak as object) });
      rows.push(row);
    };
    // The slow pure-JS backend goes last, so that its minutes of load do not delay the others.
    for (const backend of args.backends.filter((b) => b !== 'cpu')) await runOurs(backend);
    if (args.reference) {
      if (!existsSync(args.python)) {
        const reason = `no Python at ${args.python}: run bash bench/reference/setup.sh`;
        rows.push({ implementation: 'keras', backend: '', status: 'unavailable', reason }, { implementation: 'pytorch', backend: '', status: 'unavailable', reason });
      } else {
        const planPrefix = writePlan(tmp, p, plan);
        const script = path.join(ROOT, 'bench', 'reference', 'sasrec_bench.py');
        const pyEnv: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', TF_CPP_MIN_LOG_LEVEL: '2' };
        for (const framework of ['keras', 'torch']) {
          rows.push(await measure(`${framework}: ${plan.length} steps`, { implementation: framework === 'torch' ? 'pytorch' : framework, backend: '' }, args, () =>
            runProcess(args.python, [script, '--framework', framework, '--plan', planPrefix, '--warmup', String(args.warmup)], pyEnv, log, args.childTimeout), log));
        }
        // numpy's BLAS: OPENBLAS_CORETYPE/L2_SIZE (set on some machines for old OpenBLAS) slow a current one.
        const peakEnv = { ...pyEnv };
        delete peakEnv.OPENBLAS_CORETYPE;
        delete peakEnv.OPENBLAS_L2_SIZE;
        const peak = await measure('float32 matmul peak (numpy)', { implementation: 'numpy-matmul', backend: '' }, args, () => runProcess(args.python, [script, '--peak'], peakEnv, log), log);
        if (peak.status === 'ok') peaks.push(peak);
      }
    }
    if (args.backends.includes('cpu')) await runOurs('cpu');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  // Derived numbers.
  const peakGflops = Math.max(0, ...peaks.map((x) => Number(x.gflops) || 0));
  for (const row of rows) {
    if (row.status !== 'ok' || !row.timedSeconds) continue;
    const timed = plan.slice(row.warmupSteps ?? 0, row.steps ?? plan.length);
    const flops = flopsOf(timed);
    row.samplesPerSecond = (row.timedSamples ?? 0) / row.timedSeconds;
    row.gflops = flops / row.timedSeconds / 1e9;
    row.flopsPerSample = flops / (row.timedSamples ?? 1);
    if (peakGflops > 0) row.percentOfPeak = (100 * row.gflops) / peakGflops;
  }
  const ok = rows.filter((r) => r.status === 'ok' && r.samplesPerSecond);
  const bestOurs = ok.filter((r) => r.implementation.startsWith('storeloop')).sort((a, b) => b.samplesPerSecond! - a.samplesPerSecond!)[0];
  const bestRef = ok.filter((r) => !r.implementation.startsWith('storeloop')).sort((a, b) => b.samplesPerSecond! - a.samplesPerSecond!)[0];
  const ratio = bestOurs && bestRef ? bestOurs.samplesPerSecond! / bestRef.samplesPerSecond! : undefined;

  const fmt = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits));
  const table = formatTable(
    ['implementation', 'backend/device', 'steps', 'samples/s', 'GFLOP/s', '% peak', 'load 1m'],
    rows.map((r) =>
      r.status === 'ok'
        ? [r.implementation, String(r.backend), `${r.timedSteps}+${r.warmupSteps}`, fmt(r.samplesPerSecond, 0), fmt(r.gflops, 2), fmt(r.percentOfPeak, 1), `${fmt(r.loadBefore, 2)}${r.loadBelowLimit ? '' : '!'}`]
        : [r.implementation, String(r.backend), r.status, (r.reason ?? '').slice(0, 90), '', '', ''],
    ),
  );
  log('');
  log(table);
  log('');
  log(`steps: timed + warm-up. samples = non-padding target positions. load 1m: before the run ("!" = above ${args.maxLoad} after waiting).`);
  log(`FLOPs: 3 * (padded positions * ${hp.blocks} * (12 d^2 + 4 L d) + targets * 2 d * ${candidates}), d=${hp.hiddenDim}; plan average ${fmt(flopsOf(plan) / plan.reduce((n, s) => n + s.positions, 0) / 1e6, 3)} MFLOP per sample.`);
  for (const x of peaks) log(`peak: ${x.implementation} ${x.n}x${x.n} float32: ${fmt(Number(x.gflops), 1)} GFLOP/s`);
  if (ratio !== undefined) log(`ours (${bestOurs!.backend}) / best reference (${bestRef!.implementation}, ${bestRef!.backend}): ${ratio.toFixed(2)}`);
  for (const r of rows) if (r.note) log(`note: ${r.implementation} ${r.backend}: ${r.note}`);

  const summary = {
    dataset: path.relative(ROOT, args.data),
    users: p.users,
    items: p.numItems,
    hyperparameters: hp,
    softmax: p.sampled ? 'sampled' : 'full',
    steps: plan.length,
    warmupSteps: args.warmup,
    flopFormula: '3 * B * L * (blocks * (12 d^2 + 4 L d) + 2 d * candidates), candidates = sampledNegatives + 1',
    flopsPerSample: flopsOf(plan) / plan.reduce((n, s) => n + s.positions, 0),
    peakGflops,
    peaks,
    results: rows,
    best: bestOurs && { implementation: bestOurs.implementation, backend: bestOurs.backend, samplesPerSecond: bestOurs.samplesPerSecond },
    bestReference: bestRef && { implementation: bestRef.implementation, backend: bestRef.backend, samplesPerSecond: bestRef.samplesPerSecond },
    ratioOursToBestReference: ratio,
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
