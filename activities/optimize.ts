/**
 * optimize: the run history of a model, its hyperparameter search and which
 * hyperparameters a run trains with.
 *
 *   runs/<model>/history/<startedAt>-<runId>.json   one record per lifecycle run
 *   runs/<model>/best-hyperparameters.json          the winner of the latest search
 *
 * The search itself is a workflow (workflows/hyperparameter-search.ts); these activities
 * plan its candidates, score its trials and store its winner.
 */
import { seededRng, type Rng } from '../ml/random';
import { RecommenderHyperparameters, servingModelName, type SearchDimension } from '../schemas/lifecycle-input';
import { stableJson, type ObjectStore } from './storage/object-store';
import type { ModelJson } from '../ml/model-bundle';
import type { EpochReport } from '../ml/train';
import type { RankingMetrics } from '../ml/ranking';
import type { ChosenHyperparameters, FeedbackResult, SearchCandidate, SearchResult, StepContext, TrainResult } from '../schemas/steps';

export interface RunRecord {
  workflowId: string;
  runId: string;
  startedAt: string;
  dataCutoff: string | null;
  hyperparameters: ChosenHyperparameters;
  metrics: RankingMetrics;
  baseline: RankingMetrics;
  promoted: boolean;
  version: string | null;
  bestEpoch: number;
  epochs: number;
  online: FeedbackResult['perVersion'];
  drift: { itemPopularityPsi: number | null; sequenceLengthPsi: number | null };
}

export interface StoredSearchWinner {
  searchWorkflowId: string;
  storedAt: string;
  validationNdcg10: number;
  params: Record<string, number | string>;
  hyperparameters: RecommenderHyperparameters;
}

const runsPrefix = (ctx: StepContext) => `runs/${servingModelName(ctx.config)}`;
const winnerKey = (ctx: StepContext) => `${runsPrefix(ctx)}/best-hyperparameters.json`;

/** Appends this run to the history; a retry overwrites the same key with the same record. */
export async function recordRun(store: ObjectStore, ctx: StepContext, record: RunRecord): Promise<{ historyKey: string; historyRuns: number }> {
  const historyKey = `${runsPrefix(ctx)}/history/${ctx.startedAt.replace(/[^0-9]/g, '')}-${ctx.runId}.json`;
  await store.put(historyKey, JSON.stringify(record, null, 1), 'application/json');
  return { historyKey, historyRuns: (await store.list(`${runsPrefix(ctx)}/history/`)).length };
}

/**
 * Records written before the history carried baselines and the hyperparameters' source
 * (storeloop before the learning loop) have neither; they are left out rather than
 * breaking the report of every later run.
 */
function isCurrentRecord(record: Partial<RunRecord>): record is RunRecord {
  return typeof record.metrics === 'object' && typeof record.baseline === 'object' && typeof record.hyperparameters?.source === 'string';
}

/** Of the newest `limit` runs, those in the current record format, oldest first (keys start with the start time). */
export async function readRunHistory(store: ObjectStore, ctx: StepContext, limit: number): Promise<RunRecord[]> {
  const objects = (await store.list(`${runsPrefix(ctx)}/history/`)).sort((a, b) => a.key.localeCompare(b.key)).slice(-limit);
  const records = await Promise.all(objects.map((o) => store.getJson<Partial<RunRecord>>(o.key)));
  return records.filter(isCurrentRecord);
}

/**
 * Hyperparameters given in the input win; otherwise the stored winner of the latest
 * search (when the config allows it and it still fits the schema); otherwise the defaults.
 */
export async function chooseHyperparameters(store: ObjectStore, ctx: StepContext, inputSetsHyperparameters: boolean): Promise<ChosenHyperparameters> {
  const fallback = ctx.config.hyperparameters;
  if (inputSetsHyperparameters) return { source: 'input', searchWorkflowId: null, values: fallback, note: 'set by the run input' };
  if (!ctx.config.optimize.useSearchedHyperparameters) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: 'optimize.useSearchedHyperparameters is off' };
  const stored = await store.getJsonIfExists<StoredSearchWinner>(winnerKey(ctx));
  if (!stored) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: 'no search has finished yet' };
  const parsed = RecommenderHyperparameters.safeParse(stored.value.hyperparameters);
  if (!parsed.success) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: `the stored search result no longer fits the schema: ${parsed.error.issues[0]?.message}` };
  const { searchWorkflowId, validationNdcg10 } = stored.value;
  return { source: 'search', searchWorkflowId, values: parsed.data, note: `best of search ${searchWorkflowId}, validation NDCG@10 ${validationNdcg10.toFixed(4)}` };
}

function sample(dimension: SearchDimension, rng: Rng): number | string {
  if ('choices' in dimension) return dimension.choices[Math.floor(rng() * dimension.choices.length)];
  const u = rng();
  const value = dimension.scale === 'log' ? Math.exp(Math.log(dimension.min) + u * (Math.log(dimension.max) - Math.log(dimension.min))) : dimension.min + u * (dimension.max - dimension.min);
  return dimension.integer ? Math.round(value) : +value.toPrecision(3);
}

/**
 * The first rung of the search: the run's own values (so the search never ends below
 * them) and `trials - 1` distinct random configurations from the space, drawn with the
 * search's seed, each checked against the hyperparameter schema.
 */
export function planSearchCandidates(ctx: StepContext): SearchCandidate[] {
  const { space, trials, seed } = ctx.config.optimize.search;
  const base = ctx.config.hyperparameters;
  const names = Object.keys(space) as (keyof typeof space)[];
  const incumbent = Object.fromEntries(names.map((name) => [name, base[name]]));
  const seen = new Set([stableJson(incumbent)]);
  const candidates: SearchCandidate[] = [{ id: 't0', params: incumbent }];
  const rng = seededRng(`search-${seed}`);
  for (let attempt = 0; candidates.length < trials && attempt < trials * 20; attempt++) {
    const params = Object.fromEntries(names.map((name) => [name, sample(space[name]!, rng)]));
    if (seen.has(stableJson(params)) || !RecommenderHyperparameters.safeParse({ ...base, ...params }).success) continue;
    seen.add(stableJson(params));
    candidates.push({ id: `t${candidates.length}`, params });
  }
  return candidates;
}

/** A trial's score is its best validation NDCG@10, read from the history its model bundle carries. */
export async function scoreTrial(store: ObjectStore, trained: TrainResult): Promise<{ validationNdcg10: number }> {
  const bundle = await store.getJson<ModelJson>(trained.model.key);
  const history = (bundle.metadata.history ?? []) as EpochReport[];
  return { validationNdcg10: Math.max(0, ...history.map((e) => e.validationNdcg10)) };
}

/** The winner replaces the stored one: it was tuned on the newest data. */
export async function storeSearchWinner(store: ObjectStore, ctx: StepContext, result: SearchResult): Promise<string | null> {
  if (!result.best || !result.hyperparameters) return null;
  const winner: StoredSearchWinner = {
    searchWorkflowId: result.workflowId,
    storedAt: ctx.startedAt,
    validationNdcg10: result.best.validationNdcg10,
    params: result.best.candidate.params,
    hyperparameters: result.hyperparameters,
  };
  await store.put(winnerKey(ctx), JSON.stringify(winner, null, 1), 'application/json');
  return store.uri(winnerKey(ctx));
}
