/**
 * storeloop's command line: `run` (the main job: a lifecycle for every registered model
 * kind, or `--kind`), `stack install|up|down`, `import`.
 * Human-readable output by default; `--json` prints one JSON object on the last line of
 * stdout. Progress and logs go to stderr so they never mix with that line.
 */
import { privacyCommand } from './privacy-commands';
import { privacyStatement } from '../activities/run-report';
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { explain, jsonObject } from './command-kit';
import { scheduleCommand } from './schedule-commands';
import { modelsCommand } from './models-commands';
import { runsCommand } from './runs-commands';
import { runConsole } from '../console/main';
import { runningStepLabel } from '../schemas/progress';
import cliProgress from 'cli-progress';
import { loadConfig, describeConfig, usesLocalStack, type StoreloopConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { formatRecords } from '../infra/text-table';
import { ensureGoBinary, stackDown, stackUp, TEMPORAL_CLI, VERSITY_GATEWAY } from '../infra/local-stack';
import { ObjectStore } from '../activities/storage/object-store';
import { datasetNameFor, ensureSyntheticData, importFile } from '../sources/import';
import { installTemporalRuntime } from '../workers/run-worker';
import { runOnLocalWorkers, startLocalWorkers, workflowIdFor, type RunOutcome } from './local-run';
import { parseLifecycleInput, servingModelName, type LifecycleInputFields } from '../schemas/lifecycle-input';
import { STEP_NAMES, type Metrics } from '../schemas/steps';
import { formatMetric, KIND_NAMES, kindOf } from '../activities/model-kinds/registry';
import type { AnyModelKind } from '../activities/model-kinds/contract';
import type { LifecycleProgress } from '../workflows/progress';

// A script that asked for --json reads logs as JSON too, even on a terminal. Decided
// before the first logger exists, so before commander has parsed the arguments.
if (process.argv.includes('--json')) process.env.STORELOOP_LOG_FORMAT ??= 'json';
const log = createLogger('storeloop');

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function progressLine(p: LifecycleProgress): { done: number; label: string } {
  const done = p.steps.filter((s) => ['completed', 'cached', 'skipped'].includes(s.status)).length;
  return { done, label: runningStepLabel(p) };
}

function seconds(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : (ms / 1000).toFixed(1);
}

function metricsRow(kind: AnyModelKind, name: string, m: Metrics | null): Record<string, string> {
  return Object.fromEntries([['model', name], ...kind.metrics.specs.map((spec) => [spec.label, formatMetric(spec, m?.[spec.name])])]);
}

/** The report's S3 URI, and on the local stack also the file the gateway keeps it in, which any Markdown viewer opens. */
function reportLocation(uri: string, config: StoreloopConfig): string {
  if (!usesLocalStack(config).s3) return uri;
  return `${uri}\n             ${path.join(config.local.dataDir, 's3', config.s3.bucket, uri.replace(/^s3:\/\/[^/]+\//, ''))}`;
}

function printHuman(kind: AnyModelKind, outcome: RunOutcome, config: StoreloopConfig): void {
  const { uiUrl, namespace } = config.temporal;
  const link = `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(outcome.workflowId)}/${outcome.runId}/history`;
  if (outcome.status === 'failed') {
    console.log(`\n${kind.name}: lifecycle ${outcome.workflowId} FAILED: ${outcome.error}`);
    if (outcome.progress) console.log(formatRecords(outcome.progress.steps.map((s) => ({ step: s.name, status: s.status, seconds: seconds(s.durationMs) }))));
    console.log(`Temporal UI: ${link}`);
    return;
  }
  const s = outcome.summary;
  console.log(`\n${kind.name}: lifecycle ${s.workflowId} completed for model ${s.model}`);
  console.log(formatRecords(s.steps.map((st) => ({ step: st.name, status: st.status, seconds: seconds(st.durationMs), saved: st.savedMs ? seconds(st.savedMs) : '', rows: st.rows, detail: st.detail }))));
  console.log();
  console.log(formatRecords([metricsRow(kind, `new (${s.backend})`, s.metrics), metricsRow(kind, s.baselineLabel, s.baseline), metricsRow(kind, `champion ${s.championVersion ?? '(none)'}`, s.champion)]));
  console.log();
  console.log(`Primary:     ${s.primaryMetric} (${kind.metrics.specs.find((m) => m.name === s.primaryMetric)?.direction ?? 'higher'} is better)`);
  console.log(`Decision: ${s.promoted ? `PROMOTED ${s.version}` : `not promoted (champion stays ${s.championVersion ?? 'none'})`}`);
  for (const reason of s.reasons) console.log(`  - ${reason}`);
  console.log(`Hyperparams: ${s.hyperparameters.source} (${s.hyperparameters.note})`);
  console.log(`Personal:    ${privacyStatement(s.data.privacy).replace(/\*\*/g, '')}`);
  console.log(`Feedback:    ${s.feedback.status === 'measured' ? `${s.feedback.events} events, ${Object.keys(s.feedback.perVersion).length} version(s)` : 'no feedback yet'}${s.feedback.alarms.length > 0 ? `; alarms: ${s.feedback.alarms.join('; ')}` : ''}`);
  console.log(`Optimize:    ${s.optimize.rationale}`);
  console.log(`Serving:     ${s.servingUri ?? '(nothing served yet)'}`);
  console.log(`Report:      ${reportLocation(s.runReport, config)}`);
  console.log(`Temporal UI: ${link}`);
}

interface RunOptions {
  kind?: string;
  data?: string;
  source?: string;
  dataset?: string;
  json?: boolean;
  force?: boolean;
  epochs?: number;
  input?: LifecycleInputFields;
}

/** The JSON line's shape for a run that failed: the fields a script reads, with nothing measured. */
function failedRun(kind: string, outcome: Extract<RunOutcome, { status: 'failed' }>) {
  return { kind, workflowId: outcome.workflowId, runId: outcome.runId, status: 'failed', error: outcome.error, steps: outcome.progress?.steps ?? [], metrics: null, baseline: null, champion: null, primaryMetric: null, promoted: false, servingUri: null };
}

async function runCommand(options: RunOptions) {
  const config = loadConfig();
  // --data imports one file, so it goes with one kind (next-item unless --kind says otherwise).
  const kinds = options.kind ? [kindOf(options.kind)] : options.data ? [kindOf('next-item')] : KIND_NAMES.map(kindOf);
  const dataset = options.dataset ?? (options.data ? datasetNameFor(options.data) : 'store');
  const inputs = kinds.map((kind) => {
    const input: LifecycleInputFields = { ...options.input, kind: kind.name, dataset };
    if (options.force) input.force = true;
    if (options.epochs) input.hyperparameters = { ...input.hyperparameters, epochs: options.epochs };
    parseLifecycleInput(input); // fail here, before starting anything, on a bad --input
    return input;
  });
  mkdirSync(path.join(config.local.dataDir, 'logs'), { recursive: true });
  const logFile = path.join(config.local.dataDir, 'logs', 'pipeline-worker.log');
  const trainingLogFile = path.join(config.local.dataDir, 'logs', 'training-worker.log');
  const workerLog = createLogger('pipeline-worker', 'info', logFile);
  installTemporalRuntime('pipeline');

  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  for (const kind of kinds) {
    if (options.data) {
      const imported = await importFile(store, options.data, dataset, kind, options.source);
      log.info({ ...imported }, `imported ${options.data}`);
    } else {
      const generated = await ensureSyntheticData(store, dataset, kind);
      if (generated) log.info({ kind: kind.name, files: generated.keys.length, rows: generated.rows }, 'loaded the synthetic data as default data');
    }
  }
  store.client.destroy();

  const workers = await startLocalWorkers(config, workerLog, trainingLogFile);
  log.info({ logFile, trainingLogFile }, 'workers started; their logs go to these files');
  const outcomes: RunOutcome[] = [];
  try {
    for (const input of inputs) {
      const bar = new cliProgress.SingleBar(
        { format: `${input.kind} |{bar}| {value}/{total} steps | {label}`, hideCursor: true, stream: process.stderr, noTTYOutput: false },
        cliProgress.Presets.shades_classic,
      );
      bar.start(STEP_NAMES.length, 0, { label: 'starting' });
      try {
        const outcome = await runOnLocalWorkers(workers, config, input, (p) => {
          const { done, label } = progressLine(p);
          bar.update(done, { label });
        }, workflowIdFor(input));
        bar.update(outcome.status === 'completed' ? STEP_NAMES.length : bar.getProgress() * STEP_NAMES.length, { label: outcome.status });
        outcomes.push(outcome);
      } finally {
        bar.stop();
      }
    }
  } finally {
    await workers.shutdown();
  }

  if (options.json) {
    const runs = outcomes.map((outcome, i) => (outcome.status === 'completed' ? outcome.summary : failedRun(kinds[i].name, outcome)));
    process.stdout.write(`${JSON.stringify({ runs })}\n`);
  } else {
    outcomes.forEach((outcome, i) => printHuman(kinds[i], outcome, config));
  }
  process.exitCode = outcomes.every((o) => o.status === 'completed') ? 0 : 1;
}

const program = new Command('storeloop').description('Keeps an online store\'s models fresh: durable ML lifecycles on Temporal').showHelpAfterError();

program
  .command('run')
  .description(`run a lifecycle of every registered model kind (${KIND_NAMES.join(', ')}) on the local stack (starts it when needed)`)
  .option('--kind <name>', `run only this kind (${KIND_NAMES.join(', ')})`)
  .option('--data <path>', 'import this file first for the chosen kind (CSV, JSONL, Arrow, Parquet, gzip, or a `user item item ...` sequences .txt)')
  .option('--source <name>', 'which of the kind\'s sources --data goes to (default its first events source)')
  .option('--dataset <name>', 'dataset name (default: "store", or derived from --data)')
  .option('--epochs <n>', 'maximum training epochs', positiveInt)
  .option('--force', 'recompute every step even when cached')
  .option('--input <json>', 'extra workflow input fields as JSON, e.g. \'{"promotion":{"minImprovement":0.001}}\'', (value: string) => jsonObject(value) as LifecycleInputFields)
  .option('--json', 'print the summary as one JSON object on the last stdout line')
  .action(runCommand);

const stack = program.command('stack').description('the embedded local stack: Temporal dev server + S3 gateway');
stack
  .command('up')
  .description('install (first time), start and health-check the local stack')
  .action(async () => {
    const config = loadConfig();
    for (const s of await stackUp(log, config)) console.log(`${s.name}: ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}`);
    console.log(`Temporal UI: ${config.temporal.uiUrl}`);
    console.log(JSON.stringify(describeConfig(config)));
  });
stack
  .command('install')
  .description('build the pinned Temporal CLI and Versity gateway binaries into the cache (first time only)')
  .action(() => {
    for (const binary of [TEMPORAL_CLI, VERSITY_GATEWAY]) console.log(`${binary.name} ${binary.version}: ${ensureGoBinary(binary, log)}`);
  });
stack
  .command('down')
  .description('stop exactly the processes `stack up` started')
  .action(async () => {
    for (const s of await stackDown()) console.log(`${s.name}: ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}`);
  });

program
  .command('import <file>')
  .description('upload a raw data file into raw/<dataset>/<source>/ for the next run')
  .option('--dataset <name>', 'dataset name (default: derived from the file)')
  .option('--kind <name>', `the model kind it is for (${KIND_NAMES.join(', ')})`, 'next-item')
  .option('--source <name>', 'which of the kind\'s sources (default its first events source)')
  .action(async (file: string, options: { dataset?: string; kind: string; source?: string }) => {
    const config = loadConfig();
    const kind = kindOf(options.kind);
    await stackUp(log, config);
    const store = new ObjectStore(config.s3);
    const result = await importFile(store, file, options.dataset ?? datasetNameFor(file), kind, options.source);
    console.log(`imported ${file} -> ${result.keys.map((k) => store.uri(k)).join(', ')}${result.rows ? ` (${result.rows} rows)` : ''}`);
    console.log(`next: storeloop run --kind ${kind.name} --dataset ${result.dataset}  (serves model ${servingModelName({ dataset: result.dataset, kind: kind.name })})`);
    store.client.destroy();
  });

program
  .command('console')
  .description('the web console: models, versions, runs, and actions with STORELOOP_CONSOLE_TOKEN (STORELOOP_CONSOLE_PORT, default 8090)')
  .action(() => runConsole());

program.addCommand(scheduleCommand());
program.addCommand(modelsCommand());
program.addCommand(runsCommand());
program.addCommand(privacyCommand());

program.parseAsync().catch((error: unknown) => {
  console.error(`storeloop: ${explain(error)}`);
  // A script that asked for JSON gets a JSON line, whatever failed.
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ status: 'failed', error: explain(error) })}\n`);
  // Exit once the log files are flushed; a second later whatever else still runs (a worker) is cut off.
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 1000).unref();
});
