/**
 * storeloop's command line: `run` (the main job), `stack install|up|down`, `import`.
 * Human-readable output by default; `--json` prints one JSON object on the last line of
 * stdout. Progress and logs go to stderr so they never mix with that line.
 */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { explain, jsonObject } from './command-kit';
import { scheduleCommand } from './schedule-commands';
import { modelsCommand } from './models-commands';
import { runsCommand } from './runs-commands';
import cliProgress from 'cli-progress';
import { loadConfig, describeConfig, usesLocalStack, type StoreloopConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { ensureGoBinary, stackDown, stackUp, TEMPORAL_CLI, VERSITY_GATEWAY } from '../infra/local-stack';
import { ObjectStore } from '../activities/storage/object-store';
import { datasetNameFor, ensureSyntheticData, importFile } from '../sources/import';
import { installTemporalRuntime } from '../workers/run-worker';
import { runLifecycle, startLocalWorkers, workflowIdFor, type RunOutcome } from './local-run';
import { parseLifecycleInput, servingModelName, type LifecycleInputFields } from '../schemas/lifecycle-input';
import { STEP_NAMES } from '../schemas/steps';
import type { LifecycleProgress } from '../workflows/progress';
import type { RankingMetrics } from '../ml/ranking';

const log = createLogger('storeloop');

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function progressLine(p: LifecycleProgress): { done: number; label: string } {
  const done = p.steps.filter((s) => ['completed', 'cached', 'skipped'].includes(s.status)).length;
  const current = p.steps.find((s) => s.status === 'running')?.name ?? p.currentStep ?? '';
  const t = p.training;
  const label =
    current === 'train' && t
      ? `train: epoch ${t.epoch}/${t.epochs}, loss ${t.loss.toFixed(3)}${t.validationNdcg10 !== undefined ? `, val NDCG@10 ${t.validationNdcg10.toFixed(4)}` : ''}`
      : current;
  return { done, label };
}

const METRIC_KEYS = ['hr@10', 'ndcg@10', 'hr@20', 'ndcg@20'] as const;

function metricsRow(name: string, m: RankingMetrics | null): Record<string, string> {
  return Object.fromEntries([['model', name], ...METRIC_KEYS.map((k) => [k, m ? m[k].toFixed(4) : '-'])]);
}

/** The report's S3 URI, and on the local stack also the file the gateway keeps it in, which any Markdown viewer opens. */
function reportLocation(uri: string, config: StoreloopConfig): string {
  if (!usesLocalStack(config).s3) return uri;
  return `${uri}\n             ${path.join(config.local.dataDir, 's3', config.s3.bucket, uri.replace(/^s3:\/\/[^/]+\//, ''))}`;
}

function printHuman(outcome: RunOutcome, config: StoreloopConfig): void {
  const { uiUrl, namespace } = config.temporal;
  const link = `${uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(outcome.workflowId)}/${outcome.runId}/history`;
  if (outcome.status === 'failed') {
    console.log(`\nLifecycle ${outcome.workflowId} FAILED: ${outcome.error}`);
    if (outcome.progress) console.table(outcome.progress.steps.map((s) => ({ step: s.name, status: s.status, ms: s.durationMs ?? '' })));
    console.log(`Temporal UI: ${link}`);
    return;
  }
  const s = outcome.summary;
  console.log(`\nLifecycle ${s.workflowId} completed for model ${s.model}`);
  console.table(s.steps.map((st) => ({ step: st.name, status: st.status, seconds: st.durationMs === null ? '' : `${(st.durationMs / 1000).toFixed(1)}${st.savedMs ? ` (saved ${(st.savedMs / 1000).toFixed(1)})` : ''}`, rows: st.rows ?? '', detail: st.detail ?? '' })));
  console.table([metricsRow(`new (${s.backend})`, s.metrics), metricsRow('popularity baseline', s.baseline), metricsRow(`champion ${s.championVersion ?? '(none)'}`, s.champion)]);
  console.log(`Decision: ${s.promoted ? `PROMOTED ${s.version}` : `not promoted (champion stays ${s.championVersion ?? 'none'})`}`);
  for (const reason of s.reasons) console.log(`  - ${reason}`);
  console.log(`Hyperparams: ${s.hyperparameters.source} (${s.hyperparameters.note})`);
  console.log(`Feedback:    ${s.feedback.status === 'measured' ? `${s.feedback.events} events, ${Object.keys(s.feedback.perVersion).length} version(s)` : 'no feedback yet'}${s.feedback.alarms.length > 0 ? `; alarms: ${s.feedback.alarms.join('; ')}` : ''}`);
  console.log(`Optimize:    ${s.optimize.rationale}`);
  console.log(`Serving:     ${s.servingUri ?? '(nothing served yet)'}`);
  console.log(`Report:      ${reportLocation(s.runReport, config)}`);
  console.log(`Temporal UI: ${link}`);
}

async function runCommand(options: { data?: string; dataset?: string; json?: boolean; force?: boolean; epochs?: number; input?: LifecycleInputFields }) {
  const config = loadConfig();
  mkdirSync(path.join(config.local.dataDir, 'logs'), { recursive: true });
  const logFile = path.join(config.local.dataDir, 'logs', 'pipeline-worker.log');
  const trainingLogFile = path.join(config.local.dataDir, 'logs', 'training-worker.log');
  const workerLog = createLogger('pipeline-worker', 'info', logFile);
  installTemporalRuntime();

  await stackUp(log, config);
  const store = new ObjectStore(config.s3);
  const dataset = options.dataset ?? (options.data ? datasetNameFor(options.data) : 'store');
  const input: LifecycleInputFields = { ...options.input, dataset };
  if (options.force) input.force = true;
  if (options.epochs) input.hyperparameters = { ...input.hyperparameters, epochs: options.epochs };
  parseLifecycleInput(input); // fail here, before starting anything, on a bad --input

  if (options.data) {
    const imported = await importFile(store, options.data, dataset);
    log.info({ ...imported }, `imported ${options.data}`);
  } else {
    const generated = await ensureSyntheticData(store, dataset);
    if (generated) log.info({ files: generated.keys.length, rows: generated.rows }, 'loaded the synthetic store as default data');
  }
  store.client.destroy();

  const workers = await startLocalWorkers(config, workerLog, trainingLogFile);
  log.info({ logFile, trainingLogFile }, 'workers started; their logs go to these files');
  const bar = new cliProgress.SingleBar(
    { format: 'lifecycle |{bar}| {value}/{total} steps | {label}', hideCursor: true, stream: process.stderr, noTTYOutput: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(STEP_NAMES.length, 0, { label: 'starting' });
  let outcome: RunOutcome;
  try {
    outcome = await runLifecycle(workers.client, config, input, (p) => {
      const { done, label } = progressLine(p);
      bar.update(done, { label });
    }, workflowIdFor(input));
    bar.update(outcome.status === 'completed' ? STEP_NAMES.length : bar.getProgress() * STEP_NAMES.length, { label: outcome.status });
  } finally {
    bar.stop();
    await workers.shutdown();
  }

  if (options.json) {
    const json = outcome.status === 'completed'
      ? outcome.summary
      : { workflowId: outcome.workflowId, runId: outcome.runId, status: 'failed', error: outcome.error, steps: outcome.progress?.steps ?? [], metrics: null, baseline: null, champion: null, promoted: false, servingUri: null };
    process.stdout.write(`${JSON.stringify(json)}\n`);
  } else {
    printHuman(outcome, config);
  }
  process.exitCode = outcome.status === 'completed' ? 0 : 1;
}

const program = new Command('storeloop').description('Keeps an online store\'s models fresh: durable ML lifecycles on Temporal').showHelpAfterError();

program
  .command('run')
  .description('run one model lifecycle on the local stack (starts it when needed)')
  .option('--data <path>', 'import this file first (CSV, JSONL, Arrow, or a `user item item ...` sequences .txt)')
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
  .description('upload a raw data file into raw/<dataset>/events/ for the next run')
  .option('--dataset <name>', 'dataset name (default: derived from the file)')
  .action(async (file: string, options: { dataset?: string }) => {
    const config = loadConfig();
    await stackUp(log, config);
    const store = new ObjectStore(config.s3);
    const result = await importFile(store, file, options.dataset ?? datasetNameFor(file));
    console.log(`imported ${file} -> ${result.keys.map((k) => store.uri(k)).join(', ')}${result.rows ? ` (${result.rows} events)` : ''}`);
    console.log(`next: storeloop run --dataset ${result.dataset}  (serves model ${servingModelName({ dataset: result.dataset, kind: 'next-item' })})`);
    store.client.destroy();
  });

program.addCommand(scheduleCommand());
program.addCommand(modelsCommand());
program.addCommand(runsCommand());

program.parseAsync().catch((error: unknown) => {
  console.error(`storeloop: ${explain(error)}`);
  process.exit(1);
});
