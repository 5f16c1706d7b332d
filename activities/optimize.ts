/**
 * optimize: appends this run to the model's run history in S3 and proposes the next
 * run's hyperparameters from that history: a coordinate search that starts from the best
 * run so far and changes one hyperparameter per run, cycling through them.
 */
import { servingModelName, type RecommenderHyperparameters } from '../schemas/lifecycle-input';
import type { ObjectStore } from './storage/object-store';
import type { EvaluateResult, OptimizeResult, StepContext, TrainResult } from '../schemas/steps';

interface RunRecord {
  workflowId: string;
  runId: string;
  startedAt: string;
  hyperparameters: RecommenderHyperparameters;
  metrics: EvaluateResult['candidate'];
  bestEpoch: number;
  epochs: number;
}

/** Each move is a named change to try next, applied to the best configuration so far. */
const MOVES: { name: string; apply: (hp: RecommenderHyperparameters) => Partial<RecommenderHyperparameters> }[] = [
  { name: 'learningRate x2', apply: (hp) => ({ learningRate: Math.min(0.01, hp.learningRate * 2) }) },
  { name: 'learningRate /2', apply: (hp) => ({ learningRate: hp.learningRate / 2 }) },
  { name: 'dropout +0.1', apply: (hp) => ({ dropout: Math.min(0.6, +(hp.dropout + 0.1).toFixed(2)) }) },
  { name: 'dropout -0.1', apply: (hp) => ({ dropout: Math.max(0, +(hp.dropout - 0.1).toFixed(2)) }) },
  { name: 'hiddenDim x2', apply: (hp) => ({ hiddenDim: Math.min(256, hp.hiddenDim * 2) }) },
];

export async function optimizeNext(
  store: ObjectStore,
  ctx: StepContext,
  evaluation: EvaluateResult,
  trained: TrainResult,
): Promise<OptimizeResult> {
  const prefix = `runs/${servingModelName(ctx.config)}`;
  const record: RunRecord = {
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    startedAt: ctx.startedAt,
    hyperparameters: ctx.config.hyperparameters,
    metrics: evaluation.candidate,
    bestEpoch: trained.bestEpoch,
    epochs: trained.epochs,
  };
  const historyKey = `${prefix}/history/${ctx.startedAt.replace(/[^0-9]/g, '')}-${ctx.runId}.json`;
  await store.put(historyKey, JSON.stringify(record, null, 1), 'application/json');

  const history: RunRecord[] = [];
  for (const object of await store.list(`${prefix}/history/`)) history.push(await store.getJson<RunRecord>(object.key));
  const metric = ctx.config.promotion.metric;
  const best = history.reduce((a, b) => (b.metrics[metric] > a.metrics[metric] ? b : a));
  const move = MOVES[(history.length - 1) % MOVES.length];
  const proposal: RecommenderHyperparameters = { ...best.hyperparameters, ...move.apply(best.hyperparameters) };
  // Training that used every epoch was probably still improving.
  if (best.epochs >= best.hyperparameters.epochs && best.bestEpoch === best.epochs) proposal.epochs = Math.min(500, Math.ceil(best.hyperparameters.epochs * 1.5));
  const rationale = `best of ${history.length} run(s) is ${best.workflowId} (${metric} ${best.metrics[metric].toFixed(4)}); next try: ${move.name}`;
  await store.put(`${prefix}/proposal.json`, JSON.stringify({ basedOn: best.runId, rationale, hyperparameters: proposal }, null, 1), 'application/json');
  return { historyRuns: history.length, proposal: proposal as unknown as Record<string, number | string>, rationale, historyKey };
}
