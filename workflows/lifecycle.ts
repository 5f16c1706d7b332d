/**
 * The model lifecycle: collect -> preprocess -> train -> evaluate -> deploy -> feedback
 * -> optimize. Deterministic and short: every piece of real work is an activity, only
 * artifact references travel between them, and the `progress` query shows where it is.
 */
import { ActivityCancellationType, ApplicationFailure, proxyActivities, setHandler, workflowInfo, type RetryPolicy } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { Activities } from '../activities';
import { parseLifecycleInput, servingModelName, type LifecycleInputFields } from '../schemas/lifecycle-input';
import { STEP_NAMES, type StepContext, type StepName } from '../schemas/steps';
import type { RankingMetrics } from '../ml/ranking';
import { progressQuery, trainingProgressSignal, type ApprovalState, type LifecycleProgress, type StepProgress } from './progress';
import { describeApproval, installApprovalGate } from './approval';

const retry: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['InvalidInputFileError', 'TooManyBadRowsError', 'ChampionChangedError'],
};

const pipeline = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry,
});

/** Set by the Temporal Schedule on every run it starts: the run's nominal time. */
const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

export interface LifecycleSummary {
  workflowId: string;
  runId: string;
  status: 'completed';
  model: string;
  /** Events at or after this instant were left out (null: all collected data). */
  dataCutoff: string | null;
  steps: StepProgress[];
  metrics: RankingMetrics;
  baseline: RankingMetrics;
  champion: RankingMetrics | null;
  championVersion: string | null;
  promoted: boolean;
  /** The approval gate's outcome; null when the input did not ask for approval or nothing was to be promoted. */
  approval: ApprovalState | null;
  version: string | null;
  servingUri: string | null;
  reasons: string[];
  report: string;
  backend: string;
  data: { rowsImported: number; totalRows: number; quarantinedRows: number; eventsAfterCutoff: number; users: number; items: number; interactions: number };
  training: { epochs: number; bestEpoch: number; trainSeconds: number; samplesPerSecond: number; cached: boolean; resumedFromStep: number | null };
  feedback: { status: string; events: number };
  nextHyperparameters: { rationale: string };
}

export async function modelLifecycle(input: LifecycleInputFields = {}): Promise<LifecycleSummary> {
  let config;
  try {
    config = parseLifecycleInput(input);
  } catch (error) {
    throw ApplicationFailure.nonRetryable((error as Error).message, 'InvalidWorkflowInput');
  }
  const info = workflowInfo();
  // A scheduled run trains on the data up to its nominal time, not up to whenever it got
  // to run: a backfill for a past night sees only what that night would have seen.
  const scheduledAt = info.typedSearchAttributes.get(SCHEDULED_START_TIME);
  if (config.dataCutoff === undefined && scheduledAt) config.dataCutoff = scheduledAt.toISOString();
  const ctx: StepContext = { config, workflowId: info.workflowId, runId: info.runId, startedAt: info.runStartTime.toISOString() };
  const training = proxyActivities<Activities>({
    taskQueue: config.trainingTaskQueue,
    startToCloseTimeout: '12h',
    // A killed training worker is noticed after this long; the retry resumes from its checkpoint.
    heartbeatTimeout: `${config.training.heartbeatTimeoutSeconds}s`,
    // A cancelled run ends only once training has seen the cancellation (through its
    // heartbeats) and stopped, so no model keeps training behind the operator's back.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry,
  });

  const progress: LifecycleProgress = {
    currentStep: null,
    steps: STEP_NAMES.map((name) => ({ name, status: 'pending', durationMs: null })),
    training: null,
    approval: null,
  };
  setHandler(progressQuery, () => progress);
  setHandler(trainingProgressSignal, (update) => void (progress.training = update));
  const awaitApproval = installApprovalGate(progress);

  async function run<T>(name: StepName, work: () => Promise<T>, describe?: (r: T) => Partial<StepProgress>): Promise<T> {
    const entry = progress.steps.find((s) => s.name === name)!;
    progress.currentStep = name;
    entry.status = 'running';
    const started = Date.now();
    try {
      const result = await work();
      const { cached, savedMs } = (typeof result === 'object' && result !== null ? result : {}) as { cached?: boolean; savedMs?: number };
      Object.assign(entry, { status: cached ? 'cached' : 'completed', durationMs: Date.now() - started, ...(cached ? { savedMs } : {}) }, describe?.(result));
      return result;
    } catch (error) {
      Object.assign(entry, { status: 'failed', durationMs: Date.now() - started });
      throw error;
    } finally {
      progress.currentStep = null;
    }
  }

  const collected = await run('collect', () => pipeline.collect(ctx), (r) => ({
    rows: r.rowsImported,
    detail: `${r.newFiles.length} new file(s), ${r.totalRows} rows in ${r.partitions} partitions, ${r.quarantinedRows} quarantined` +
      (r.vanishedFiles.length > 0 ? `, ${r.vanishedFiles.length} deleted before reading (${r.vanishedFiles.join(', ')})` : ''),
  }));
  const prepared = await run('preprocess', () => pipeline.preprocess(ctx, collected), (r) => ({
    rows: r.interactions,
    detail: `${r.users} users, ${r.items} items, ${r.duplicates} duplicates removed`,
  }));
  const trained = await run('train', () => training.train(ctx, prepared), (r) => ({
    rows: r.epochs,
    detail: `${r.epochs} epochs (best ${r.bestEpoch}) on ${r.backend}, ${Math.round(r.samplesPerSecond)} samples/s`,
  }));
  const evaluation = await run('evaluate', () => training.evaluate(ctx, prepared, trained), (r) => ({
    rows: r.candidate.users,
    detail: r.reasons.join('; '),
  }));
  // Only a model that would be promoted needs a decision; without approval deploy keeps the champion.
  const approval = evaluation.promote && config.requireApproval ? await awaitApproval(config.approvalTimeout) : null;
  const decided = approval ? { ...evaluation, promote: approval.status === 'approved', reasons: [...evaluation.reasons, describeApproval(approval)] } : evaluation;
  const deployed = await run('deploy', () => pipeline.deploy(ctx, { collected, prepared, trained, evaluation: decided, approvedBy: approval?.by }), (r) => ({
    detail: r.promoted ? `promoted ${r.version}` : `kept ${r.version ?? 'no champion'}`,
  }));
  const feedback = await run('feedback', () => pipeline.feedback(ctx), (r) => ({ rows: r.events, detail: r.status }));
  const optimized = await run('optimize', () => pipeline.optimize(ctx, evaluation, trained), (r) => ({ detail: r.rationale }));

  return {
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    status: 'completed',
    model: servingModelName(config),
    dataCutoff: config.dataCutoff ?? null,
    steps: progress.steps,
    metrics: evaluation.candidate,
    baseline: evaluation.baseline,
    champion: evaluation.champion,
    championVersion: evaluation.championRef?.version ?? null,
    promoted: deployed.promoted,
    approval,
    version: deployed.version,
    servingUri: deployed.servingUri,
    reasons: decided.reasons,
    report: evaluation.report.uri,
    backend: trained.backend,
    data: {
      rowsImported: collected.rowsImported,
      totalRows: collected.totalRows,
      quarantinedRows: collected.quarantinedRows,
      eventsAfterCutoff: prepared.afterCutoff,
      users: prepared.users,
      items: prepared.items,
      interactions: prepared.interactions,
    },
    training: {
      epochs: trained.epochs,
      bestEpoch: trained.bestEpoch,
      trainSeconds: trained.trainSeconds,
      samplesPerSecond: trained.samplesPerSecond,
      cached: trained.cached,
      resumedFromStep: trained.resumedFromStep,
    },
    feedback: { status: feedback.status, events: feedback.events },
    nextHyperparameters: { rationale: optimized.rationale },
  };
}
