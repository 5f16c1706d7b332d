/**
 * The model lifecycle, for every model kind: collect -> preprocess -> train -> evaluate ->
 * deploy -> feedback -> optimize. Deterministic and short: every piece of real work is an
 * activity (which finds the kind in the registry), only artifact references travel between
 * them, and the `progress` query shows where it is. The workflow never imports a kind.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  executeChild,
  isCancellation,
  ParentClosePolicy,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { parseLifecycleInput, servingModelName, type LifecycleConfig, type LifecycleInputFields } from '../schemas/lifecycle-input';
import { STEP_NAMES, type OptimizeResult, type PreprocessResult, type RetrainRequest, type SearchResult, type StepContext, type StepName } from '../schemas/steps';
import type { LifecycleSummary } from '../schemas/summary';
import { progressQuery, stepProgressSignal, trainingProgressSignal, type LifecycleProgress, type StepProgress } from './progress';
import { describeRunDetails, runTitle } from '../schemas/progress';
import { describeApproval, installApprovalGate } from './approval';
import { hyperparameterSearch } from './hyperparameter-search';
import { ACTIVITY_RETRY as retry } from './retry';
import { onTrainingPool, trainingPoolActivities } from './training-pool';

const pipeline = proxyActivities<Activities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '2m',
  retry,
});

/** Set by the Temporal Schedule on every run it starts: the run's nominal time. */
const SCHEDULED_START_TIME = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

export type { LifecycleSummary };

/**
 * A feedback alarm starts a new lifecycle on all data collected until this run started.
 * Durable and idempotent: an abandoned child (it outlives this run) with an id derived
 * from this run's, so a replayed or retried start cannot launch a second one. A retrain
 * never starts another; its alarms are only reported.
 */
async function startRetrain(input: LifecycleInputFields, config: LifecycleConfig, ctx: StepContext, alarms: string[]): Promise<{ retrain: RetrainRequest | null; note: string }> {
  if (alarms.length === 0) return { retrain: null, note: 'no alarm' };
  if (!config.feedback.retrainOnAlarm) return { retrain: null, note: 'alarm raised; retraining is off (feedback.retrainOnAlarm)' };
  if (config.retrainOf) return { retrain: null, note: `alarm raised; this run is already a retrain of ${config.retrainOf.workflowId}` };
  const retrain: RetrainRequest = { workflowId: `retrain-${ctx.workflowId}`, reasons: alarms };
  try {
    await startChild(modelLifecycle, {
      workflowId: retrain.workflowId,
      args: [{ ...input, dataCutoff: ctx.startedAt, retrainOf: { workflowId: ctx.workflowId, reasons: alarms } }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: runTitle(config, `retrain after a feedback alarm in ${ctx.workflowId}`),
      staticDetails: alarms.map((alarm) => `- ${alarm}`).join('\n'),
    });
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  return { retrain, note: `started retrain ${retrain.workflowId}` };
}

/**
 * The optimize step's search, as a child workflow. The model is already deployed: a
 * search that fails is reported, and the run still completes with what it did.
 */
async function searchHyperparameters(ctx: StepContext, prepared: PreprocessResult): Promise<{ search: SearchResult | null; searched: string }> {
  if (!ctx.config.optimize.search.enabled) return { search: null, searched: 'search off' };
  try {
    const search = await executeChild(hyperparameterSearch, { workflowId: `${ctx.workflowId}-search`, args: [{ ctx, prepared }] });
    const searched = search.best
      ? `search: ${search.trials.length} trials, best ${search.best.candidate.id} (validation ${search.best.validation?.toFixed(4)}) stored for the next runs`
      : `search: ${search.trials.length} trials, none finished`;
    return { search, searched };
  } catch (error) {
    if (isCancellation(error)) throw error;
    const cause = error instanceof ChildWorkflowFailure && error.cause ? error.cause.message : (error as Error).message;
    return { search: null, searched: `search failed: ${cause}` };
  }
}

export async function modelLifecycle(input: LifecycleInputFields = {}): Promise<LifecycleSummary> {
  let config: LifecycleConfig;
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
  const chosen = await pipeline.chooseHyperparameters(ctx, input.hyperparameters !== undefined);
  ctx.config = config = { ...config, hyperparameters: chosen.values };
  const training = trainingPoolActivities(config);

  const progress: LifecycleProgress = {
    kind: config.kind,
    currentStep: null,
    steps: STEP_NAMES.map((name) => ({ name, status: 'pending', durationMs: null })),
    training: null,
    approval: null,
  };
  // The Temporal UI shows the current details; they change with the progress, never add history.
  const showProgress = () => setCurrentDetails(describeRunDetails(progress));
  setHandler(progressQuery, () => progress);
  setHandler(trainingProgressSignal, (update) => {
    progress.training = update;
    // A worker reports epochs: whatever the step waited for, it has it.
    const train = progress.steps.find((s) => s.name === 'train');
    if (train) delete train.waitingFor;
    showProgress();
  });
  setHandler(stepProgressSignal, (update) => {
    // Late updates from a step that already finished must not overwrite its final count.
    const entry = progress.steps.find((s) => s.name === update.step);
    if (entry?.status === 'running') Object.assign(entry, { rows: update.rows, detail: update.detail });
    showProgress();
  });
  const approvalGate = installApprovalGate(progress);
  const awaitApproval = async (timeout: string) => {
    const decision = approvalGate(timeout); // marks the run as waiting before it first yields
    showProgress();
    const state = await decision;
    showProgress();
    return state;
  };

  async function run<T>(name: StepName, work: () => Promise<T>, describe?: (r: T) => Partial<StepProgress>): Promise<T> {
    const entry = progress.steps.find((s) => s.name === name)!;
    progress.currentStep = name;
    entry.status = 'running';
    showProgress();
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
      showProgress();
    }
  }

  const collected = await run('collect', () => pipeline.collect(ctx), (r) => ({
    rows: r.rowsImported,
    detail: `${r.newFiles.length} new file(s), ${r.totalRows} rows in ${r.partitions} partitions, ${r.quarantinedRows} quarantined` +
      ((r.replacedFiles ?? []).length > 0 ? `, ${r.replacedFiles!.length} re-uploaded file(s) replaced their earlier rows (${r.replacedFiles!.join(', ')})` : '') +
      (r.vanishedFiles.length > 0 ? `, ${r.vanishedFiles.length} deleted before reading (${r.vanishedFiles.join(', ')})` : ''),
  }));
  const prepared = await run('preprocess', () => pipeline.preprocess(ctx, collected), (r) => ({ rows: r.rows, detail: r.detail }));
  /** A step on the training pool, with what it waits for shown while no worker has taken it. */
  const onPool = <T>(name: StepName, call: () => Promise<T>) =>
    onTrainingPool(config, call, (waitingFor) => {
      const entry = progress.steps.find((s) => s.name === name)!;
      if (waitingFor === null) delete entry.waitingFor;
      else entry.waitingFor = waitingFor;
      showProgress();
    });
  const trained = await run('train', () => onPool('train', () => training.train(ctx, prepared)), (r) => ({
    rows: r.epochs,
    detail: `${r.epochs} epochs (best ${r.bestEpoch}) on ${r.backend}, ${Math.round(r.samplesPerSecond)} samples/s`,
  }));
  const evaluation = await run('evaluate', () => onPool('evaluate', () => training.evaluate(ctx, prepared, trained)), (r) => ({
    rows: r.evaluated,
    detail: r.reasons.join('; '),
  }));
  // Only a model that would be promoted needs a decision; without approval deploy keeps the champion.
  const approval = evaluation.promote && config.requireApproval ? await awaitApproval(config.approvalTimeout) : null;
  const decided = approval ? { ...evaluation, promote: approval.status === 'approved', reasons: [...evaluation.reasons, describeApproval(approval)] } : evaluation;
  const deployed = await run('deploy', () => pipeline.deploy(ctx, { collected, prepared, trained, evaluation: decided, approvedBy: approval?.by }), (r) => ({
    detail: r.promoted ? `promoted ${r.version}` : `kept ${r.version ?? 'no champion'}`,
  }));
  const feedback = await run('feedback', () => pipeline.feedback(ctx, prepared), (r) => ({
    rows: r.events,
    detail: r.status === 'measured' ? `${Object.keys(r.perVersion).length} version(s); ${r.alarms.length > 0 ? r.alarms.join('; ') : 'no alarm'}` : 'no feedback yet',
  }));
  const optimized = await run('optimize', async (): Promise<OptimizeResult> => {
    const history = await pipeline.recordRun(ctx, {
      workflowId: ctx.workflowId,
      runId: ctx.runId,
      startedAt: ctx.startedAt,
      dataCutoff: config.dataCutoff ?? null,
      hyperparameters: chosen,
      primaryMetric: evaluation.primaryMetric,
      metrics: evaluation.candidate,
      baseline: evaluation.baseline,
      promoted: deployed.promoted,
      version: deployed.version,
      bestEpoch: trained.bestEpoch,
      epochs: trained.epochs,
      online: feedback.perVersion,
      drift: Object.fromEntries(Object.entries(feedback.drift).map(([name, measure]) => [name, measure.psi])),
    });
    const { search, searched } = await searchHyperparameters(ctx, prepared);
    const { retrain, note } = await startRetrain(input, config, ctx, feedback.alarms);
    return { ...history, search, retrain, rationale: `${searched}; ${note}` };
  }, (r) => ({ rows: r.search?.trials.length, detail: r.rationale }));

  const summary: Omit<LifecycleSummary, 'runReport'> = {
    kind: config.kind,
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    status: 'completed',
    model: servingModelName(config),
    dataCutoff: config.dataCutoff ?? null,
    steps: progress.steps,
    primaryMetric: evaluation.primaryMetric,
    metrics: evaluation.candidate,
    baseline: evaluation.baseline,
    baselineLabel: evaluation.baselineLabel,
    champion: evaluation.champion,
    championVersion: evaluation.championRef?.version ?? null,
    // An evaluate result recorded before global explanations existed has none (a replayed or resumed run).
    explanations: evaluation.explanations ?? { candidate: null, champion: null },
    segments: evaluation.segments,
    promoted: deployed.promoted,
    approval,
    version: deployed.version,
    servingUri: deployed.servingUri,
    reasons: decided.reasons,
    report: evaluation.report.uri,
    backend: trained.backend,
    data: { rowsImported: collected.rowsImported, totalRows: collected.totalRows, quarantinedRows: collected.quarantinedRows, stats: prepared.stats, privacy: collected.privacy },
    training: {
      epochs: trained.epochs,
      bestEpoch: trained.bestEpoch,
      bestValidation: trained.bestValidation,
      trainSeconds: trained.trainSeconds,
      samplesPerSecond: trained.samplesPerSecond,
      cached: trained.cached,
      resumedFromStep: trained.resumedFromStep,
    },
    hyperparameters: chosen,
    feedback,
    optimize: optimized,
    retrain: optimized.retrain,
  };
  const runReport = await pipeline.writeRunReport(ctx, summary, trained.model);
  return { ...summary, runReport: runReport.uri };
}
