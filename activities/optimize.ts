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
import { selectSegments } from './fairness';
import { seededRng, type Rng } from '../ml/random';
import { describeIssues } from '../schemas/operator-input';
import { InvalidWorkflowInputError, SearchDimension, servingModelName } from '../schemas/lifecycle-input';
import { metricSpec } from './model-kinds/registry';
import { stableJson, type ObjectStore } from './storage/object-store';
import type { AnyModelKind } from './model-kinds/contract';
import type { ModelJson } from './storage/model-bundles';
import type { EpochReport } from '../ml/training-hooks';
import type { ChosenHyperparameters, FeedbackResult, Hyperparameters, Metrics, SearchCandidate, SearchResult, StepContext, TrainResult } from '../schemas/steps';

export interface RunRecord {
  workflowId: string;
  runId: string;
  startedAt: string;
  dataCutoff: string | null;
  hyperparameters: ChosenHyperparameters;
  primaryMetric: string;
  metrics: Metrics;
  baseline: Metrics;
  promoted: boolean;
  version: string | null;
  bestEpoch: number;
  epochs: number;
  online: FeedbackResult['perVersion'];
  /** PSI by drift measure. */
  drift: Record<string, number | null>;
}

export interface StoredSearchWinner {
  searchWorkflowId: string;
  storedAt: string;
  validation: number;
  params: Record<string, number | string>;
  hyperparameters: Hyperparameters;
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
  return typeof record.metrics === 'object' && typeof record.baseline === 'object' && typeof record.hyperparameters?.source === 'string' && typeof record.primaryMetric === 'string';
}

/** Of the newest `limit` runs, those in the current record format, oldest first (keys start with the start time). */
export async function readRunHistory(store: ObjectStore, model: string, limit: number): Promise<RunRecord[]> {
  const objects = (await store.list(`runs/${model}/history/`)).sort((a, b) => a.key.localeCompare(b.key)).slice(-limit);
  const records = await Promise.all(objects.map((o) => store.getJson<Partial<RunRecord>>(o.key)));
  return records.filter(isCurrentRecord);
}

/** The kind's hyperparameters with its defaults filled in; a bad field is an input error that names it. */
export function parseHyperparameters(kind: AnyModelKind, values: unknown): Hyperparameters {
  const parsed = kind.hyperparameters.schema.safeParse(values);
  if (!parsed.success) throw new InvalidWorkflowInputError(`invalid hyperparameters for ${kind.name}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The kind's options with its defaults filled in; a bad field is an input error that names it. */
export function parseKindOptions(kind: AnyModelKind, values: unknown): Record<string, unknown> {
  if (!kind.options) {
    if (values && Object.keys(values).length > 0) throw new InvalidWorkflowInputError(`options: ${kind.name} takes no options`);
    return {};
  }
  const parsed = kind.options.safeParse(values ?? {});
  if (!parsed.success) throw new InvalidWorkflowInputError(`invalid options for ${kind.name}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * The first step: checks the input against the kind (its hyperparameters, promotion metric
 * and search space), then chooses what to train with. Hyperparameters given in the input
 * win; otherwise the stored winner of the latest search (when the config allows it and it
 * still fits the schema); otherwise the kind's defaults.
 */
export async function chooseHyperparameters(store: ObjectStore, kind: AnyModelKind, ctx: StepContext, inputSetsHyperparameters: boolean): Promise<ChosenHyperparameters> {
  const fallback = parseHyperparameters(kind, ctx.config.hyperparameters);
  parseKindOptions(kind, ctx.config.options);
  if (ctx.config.promotion.metric) metricSpec(kind, ctx.config.promotion.metric);
  selectSegments(kind, ctx.config.evaluation.segments);
  if (ctx.config.optimize.search.enabled) searchSpace(kind, ctx);
  if (inputSetsHyperparameters) return { source: 'input', searchWorkflowId: null, values: fallback, note: 'set by the run input' };
  if (!ctx.config.optimize.useSearchedHyperparameters) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: 'optimize.useSearchedHyperparameters is off' };
  const stored = await store.getJsonIfExists<StoredSearchWinner>(winnerKey(ctx));
  if (!stored) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: 'no search has finished yet' };
  const parsed = kind.hyperparameters.schema.safeParse(stored.value.hyperparameters);
  if (!parsed.success) return { source: 'defaults', searchWorkflowId: null, values: fallback, note: `the stored search result no longer fits the schema: ${parsed.error.issues[0]?.message}` };
  const { searchWorkflowId, validation } = stored.value;
  return { source: 'search', searchWorkflowId, values: parsed.data, note: `best of search ${searchWorkflowId}, ${kind.metrics.validation.label} ${validation.toFixed(4)}` };
}

/** The input's search space, or the kind's; every name must be one of the kind's hyperparameters. */
function searchSpace(kind: AnyModelKind, ctx: StepContext): Record<string, SearchDimension> {
  const space = ctx.config.optimize.search.space ?? Object.fromEntries(Object.entries(kind.hyperparameters.searchSpace).map(([name, d]) => [name, SearchDimension.parse(d)]));
  const known = Object.keys(parseHyperparameters(kind, {}));
  const unknown = Object.keys(space).filter((name) => !known.includes(name) || name === 'epochs');
  if (unknown.length > 0) throw new InvalidWorkflowInputError(`optimize.search.space: ${unknown.join(', ')} cannot be searched for ${kind.name}; its hyperparameters: ${known.filter((n) => n !== 'epochs').join(', ')}`);
  return space;
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
export function planSearchCandidates(kind: AnyModelKind, ctx: StepContext): SearchCandidate[] {
  const { trials, seed } = ctx.config.optimize.search;
  const space = searchSpace(kind, ctx);
  const base = parseHyperparameters(kind, ctx.config.hyperparameters);
  const names = Object.keys(space);
  const incumbent = Object.fromEntries(names.map((name) => [name, base[name] as number | string]));
  const seen = new Set([stableJson(incumbent)]);
  const candidates: SearchCandidate[] = [{ id: 't0', params: incumbent }];
  const rng = seededRng(`search-${seed}`);
  for (let attempt = 0; candidates.length < trials && attempt < trials * 20; attempt++) {
    const params = Object.fromEntries(names.map((name) => [name, sample(space[name]!, rng)]));
    if (seen.has(stableJson(params)) || !kind.hyperparameters.schema.safeParse({ ...base, ...params }).success) continue;
    seen.add(stableJson(params));
    candidates.push({ id: `t${candidates.length}`, params });
  }
  return candidates;
}

/** What a trial that produced no validation scores; finite, because payloads are JSON. */
export const WORST_SCORE = -Number.MAX_VALUE;

/**
 * A trial's validation metric is the best of its epochs, read from the history its model
 * bundle carries; its score is that value oriented so that higher is better.
 */
export async function scoreTrial(store: ObjectStore, kind: AnyModelKind, trained: TrainResult): Promise<{ validation: number | null; score: number }> {
  const bundle = await store.getJson<ModelJson>(trained.model.key);
  const values = ((bundle.metadata.history ?? []) as EpochReport[]).map((e) => e.validation).filter(Number.isFinite);
  const higher = kind.metrics.validation.direction === 'higher';
  if (values.length === 0) return { validation: null, score: WORST_SCORE };
  const validation = higher ? Math.max(...values) : Math.min(...values);
  return { validation, score: higher ? validation : -validation };
}

/** The winner replaces the stored one: it was tuned on the newest data. */
export async function storeSearchWinner(store: ObjectStore, ctx: StepContext, result: SearchResult): Promise<string | null> {
  if (!result.best || !result.hyperparameters) return null;
  const winner: StoredSearchWinner = {
    searchWorkflowId: result.workflowId,
    storedAt: ctx.startedAt,
    validation: result.best.validation ?? Number.NaN,
    params: result.best.candidate.params,
    hyperparameters: result.hyperparameters,
  };
  await store.put(winnerKey(ctx), JSON.stringify(winner, null, 1), 'application/json');
  return store.uri(winnerKey(ctx));
}
