/**
 * The next-item recommendation kind: from the store's interaction events to a sequential
 * recommender (SASRec or GRU4Rec-style), judged by full-ranking HR/NDCG on each user's last
 * item against item popularity, served at /recommendations.
 */
import { readBatches } from '../../storage/arrow-io';
import { InputDataError } from '../../errors';
import { evaluateRanking, popularityScorer, RankingAccumulator, type BatchScorer, type RankingCase } from '../../../ml/sequence/ranking';
import { tierBoundaries, tierOf } from '../../fairness';
import { evenSample, globalExplanation, occlusion } from '../../../ml/explain';
import type { NextItemModelConfig } from '../../../ml/sequence/next-item-model';
import { trainingMemoryBytes, trainNextItemModel, useSampledSoftmax } from '../../../ml/sequence/train';
import { RecommenderHyperparameters, RECOMMENDER_SEARCH_SPACE } from '../../../ml/sequence/hyperparameters';
import { seededRng, shuffled } from '../../../ml/random';
import { syntheticStoreFiles } from './synthetic';
import { SequenceBuilder, datasetFromTables, popularityCounts, sequencesTable, testCases, trainingSequences, validationCases, vocabularyTable, type SequenceDataset } from './sequences';
import { catalogueSource, eventsSource } from './sources';
import { nextItemFeedback } from './feedback';
import { modelFromBundle, nextItemServing, precomputeTopItems, topK, type LoadedRecommender } from './serving';
import type { KindRuntime, MetricSpec, ModelKind, ModelUnderTest } from '../contract';
import type { PreprocessResult, SegmentAttribute } from '../../../schemas/steps';

/** Retrying cannot help: there is nothing to train on until data arrives. */
export class EmptyDatasetError extends InputDataError {
  constructor(dataset: string, partitions: number) {
    super(
      'EmptyDatasetError',
      partitions === 0
        ? `dataset ${dataset} has no events: upload files to raw/${dataset}/events/ (storeloop import <file> --dataset ${dataset})`
        : `dataset ${dataset} has no events before the cut-off`,
    );
  }
}

const METRICS: MetricSpec[] = [
  { name: 'hr@10', label: 'HR@10', direction: 'higher', format: 'ratio' },
  { name: 'ndcg@10', label: 'NDCG@10', direction: 'higher', format: 'ratio' },
  { name: 'hr@20', label: 'HR@20', direction: 'higher', format: 'ratio' },
  { name: 'ndcg@20', label: 'NDCG@20', direction: 'higher', format: 'ratio' },
  // Popularity bias: how much of what users are shown comes from the long tail (against `longTailShare` of interactions, in the data stats).
  { name: 'tailExposure@10', label: 'long-tail share of top-10 slots', direction: 'higher', format: 'percent' },
];

const rankingMetrics = (m: { 'hr@10': number; 'ndcg@10': number; 'hr@20': number; 'ndcg@20': number }) => ({ 'hr@10': m['hr@10'], 'ndcg@10': m['ndcg@10'], 'hr@20': m['hr@20'], 'ndcg@20': m['ndcg@20'] });

/** The head: the most interacted items that together hold this share of training interactions; the rest is the long tail. */
const HEAD_SHARE = 0.8;
const EXPOSURE_SLOTS = 10;

/**
 * Popularity bias of ranked lists: the share of top-10 slots filled by long-tail items, and
 * the long tail's share of training interactions (dense item counts, index 0 unused).
 */
export function tailExposure(itemCounts: ArrayLike<number>): { interactionShare: number; add(scores: Float32Array): void; exposure(): number } {
  const items = Array.from({ length: itemCounts.length - 1 }, (_, i) => i + 1).sort((a, b) => itemCounts[b] - itemCounts[a] || a - b);
  const total = items.reduce((n, i) => n + itemCounts[i], 0);
  const isTail = new Uint8Array(itemCounts.length).fill(1);
  let held = 0;
  for (const item of items) {
    if (held >= HEAD_SHARE * total) break;
    isTail[item] = 0;
    held += itemCounts[item];
  }
  let slots = 0;
  let tailSlots = 0;
  return {
    interactionShare: total === 0 ? 0 : 1 - held / total,
    add(scores) {
      for (const { index } of topK(scores, EXPOSURE_SLOTS, new Set())) {
        slots++;
        tailSlots += isTail[index];
      }
    },
    exposure: () => (slots === 0 ? 0 : tailSlots / slots),
  };
}

/** Item interactions in the training sequences, by dense index. */
function trainingItemCounts(data: SequenceDataset): Float64Array {
  const counts = new Float64Array(data.itemIds.length + 1);
  for (const sequence of trainingSequences(data)) for (const item of sequence) counts[item]++;
  return counts;
}

/** Ranks the test cases with `scorer`: the ranking metrics, long-tail exposure, and the metrics per activity tier. */
async function rankTestCases(data: SequenceDataset, cases: RankingCase[], scorer: BatchScorer, onProgress?: (done: number) => void) {
  const activity = activitySegments(trainingSequences(data), cases);
  const tail = tailExposure(trainingItemCounts(data));
  const ranked = await evaluateRanking(cases, data.itemIds.length + 1, scorer, 256, onProgress, (index, rank, scores) => {
    activity.onRank(index, rank);
    tail.add(scores);
  });
  return { metrics: { ...rankingMetrics(ranked), 'tailExposure@10': tail.exposure() }, evaluated: ranked.users, segments: [activity.result()] };
}

export const NEXT_ITEM_SEGMENTS = [{ name: 'activity', label: 'user activity tier (interactions before the target)' }] as const;
const ACTIVITY_TIERS = ['light', 'medium', 'heavy'];

/**
 * Ranking metrics per user activity tier: the test case's history length, cut at the terciles
 * of the training sequences' lengths. Fed one rank at a time while the whole split is ranked.
 */
export function activitySegments(training: readonly Int32Array[], cases: readonly RankingCase[]): { onRank: (index: number, rank: number) => void; result: () => SegmentAttribute } {
  const boundaries = tierBoundaries(training.map((s) => s.length), ACTIVITY_TIERS.length);
  const tiers = new Map(ACTIVITY_TIERS.map((tier) => [tier, new RankingAccumulator()]));
  return {
    onRank: (index, rank) => tiers.get(tierOf(cases[index].history.length, boundaries, ACTIVITY_TIERS))!.add(rank),
    result: () => ({
      attribute: NEXT_ITEM_SEGMENTS[0].name,
      label: NEXT_ITEM_SEGMENTS[0].label,
      segments: ACTIVITY_TIERS.map((tier) => tiers.get(tier)!.result()).flatMap((r, i) => (r.users > 0 ? [{ segment: ACTIVITY_TIERS[i], cases: r.users, metrics: rankingMetrics(r) }] : [])),
    }),
  };
}

async function loadDataset(rt: KindRuntime, prepared: PreprocessResult): Promise<SequenceDataset> {
  return datasetFromTables(await rt.readTable(prepared.artifacts.vocabulary.key), await rt.readTable(prepared.artifacts.sequences.key));
}

/**
 * A model's scorer in this run's item index space. A champion was trained on an earlier
 * vocabulary: histories are translated into its index space and its scores back into ours
 * (items it has never seen score -Infinity).
 */
/**
 * The global explanation: serving's occlusion of each sampled user's history for the top
 * item it would be shown, by position from the most recent: how much each position drives the list.
 */
async function explainSample(cases: readonly RankingCase[], scorer: BatchScorer, width: number, maxLen: number) {
  const explained = [];
  for (const i of evenSample(cases.length)) {
    const history = cases[i].history.subarray(Math.max(0, cases[i].history.length - maxLen));
    const [top] = topK(await scorer([history]), 1, new Set(history));
    if (!top) continue;
    const attributions = await occlusion(scorer, history, top.index, width);
    explained.push(Array.from(attributions, (attribution, p) => ({ input: positionName(history.length - p), attribution })));
  }
  return globalExplanation(nextItemServing.explanation.method, "top item's score", explained);
}

/** A history position counted back from the most recent item, `history[-1]`. */
const positionName = (fromEnd: number) => `history[-${fromEnd}]`;

const maxLenOf = (target: ModelUnderTest) => (target.bundle.config as unknown as NextItemModelConfig).maxLen;

async function scorerFor(rt: KindRuntime, prepared: PreprocessResult, data: SequenceDataset, target: ModelUnderTest): Promise<{ scorer: BatchScorer; dispose: () => void }> {
  const model = modelFromBundle(target.bundle.config, target.bundle.tensors);
  const vocabularyKey = target.artifactKey('vocabulary');
  if (vocabularyKey === prepared.artifacts.vocabulary.key) return { scorer: (h) => model.scoreNext(h), dispose: () => model.dispose() };
  const modelIndex = new Map<string, number>();
  for (const row of await rt.readTable(vocabularyKey)) modelIndex.set(row.item_id as string, row.item_index as number);
  const toModel = Int32Array.from([0, ...data.itemIds.map((id) => modelIndex.get(id) ?? -1)]);
  const numScores = data.itemIds.length + 1;
  const scorer: BatchScorer = async (histories) => {
    const translated = histories.map((h) => Int32Array.from([...h].map((i) => toModel[i]).filter((i) => i > 0)));
    const modelScores = await model.scoreNext(translated);
    const width = model.config.numItems + 1;
    const out = new Float32Array(histories.length * numScores).fill(Number.NEGATIVE_INFINITY);
    for (let row = 0; row < histories.length; row++) {
      for (let item = 1; item < numScores; item++) {
        const c = toModel[item];
        if (c > 0) out[row * numScores + item] = modelScores[row * width + c];
      }
    }
    return out;
  };
  return { scorer, dispose: () => model.dispose() };
}

export const nextItemKind: ModelKind<RecommenderHyperparameters, LoadedRecommender> = {
  name: 'next-item',
  description: 'next-item recommendation from interaction sequences (SASRec / GRU4Rec)',
  sources: [eventsSource, catalogueSource],
  hyperparameters: { schema: RecommenderHyperparameters, searchSpace: RECOMMENDER_SEARCH_SPACE },
  metrics: {
    specs: METRICS,
    primary: 'ndcg@10',
    validation: { name: 'ndcg@10', label: 'validation NDCG@10', direction: 'higher', format: 'ratio' },
  },
  segments: NEXT_ITEM_SEGMENTS,
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff }),

  async preprocess(rt, snapshot) {
    const { dataset, dataCutoff } = rt.ctx.config;
    const partitions = snapshot.sources.events?.partitions ?? [];
    const builder = new SequenceBuilder(dataCutoff ? Date.parse(dataCutoff) : undefined);
    for (const [index, partition] of partitions.entries()) {
      for await (const batch of readBatches(rt.store, partition.key)) {
        const users = batch.getChild('user_id')!;
        const items = batch.getChild('item_id')!;
        const types = batch.getChild('event_type')!;
        const times = batch.getChild('timestamp')!;
        for (let row = 0; row < batch.numRows; row++) {
          builder.add({ userId: users.get(row), itemId: items.get(row), eventType: types.get(row), timestamp: Number(times.get(row)) });
        }
      }
      rt.heartbeat({ partitions: index + 1, of: partitions.length });
    }
    const data = builder.build();
    if (data.itemIds.length === 0) throw new EmptyDatasetError(dataset, partitions.length);
    const interactions = data.sequences.reduce((n, s) => n + s.length, 0);
    const stats = { ...builder.stats, users: data.userIds.length, evaluableUsers: validationCases(data).length, items: data.itemIds.length, interactions, longTailShare: tailExposure(trainingItemCounts(data)).interactionShare };
    return {
      artifacts: { sequences: await rt.putTable('sequences', sequencesTable(data)), vocabulary: await rt.putTable('vocabulary', vocabularyTable(data)) },
      stats,
      rows: interactions,
      detail: `${stats.users} users, ${stats.items} items, ${stats.duplicates} duplicates removed`,
    };
  },

  async train(rt, prepared, hp) {
    const data = await loadDataset(rt, prepared);
    const allValidation = validationCases(data);
    const validation =
      hp.validationUsers > 0 && allValidation.length > hp.validationUsers
        ? shuffled(allValidation, seededRng(`validation-${hp.seed}`)).slice(0, hp.validationUsers)
        : allValidation;
    const softmax = useSampledSoftmax(hp, data.itemIds.length) ? 'sampled' : 'full';
    rt.log.info({ users: data.userIds.length, items: data.itemIds.length, softmax }, 'training next-item recommender');
    const result = await trainNextItemModel({ ...rt.hooks, hyperparameters: hp, numItems: data.itemIds.length, sequences: trainingSequences(data), validation } as Parameters<typeof trainNextItemModel>[0]);
    const weights = Object.entries(result.model.namedWeights()).map(([name, tensor]) => ({ name, tensor }));
    return { ...result, weights, config: { ...result.model.config }, notes: { softmax }, dispose: () => result.model.dispose() };
  },

  trainingMemoryBytes: (prepared, hp) => trainingMemoryBytes(hp, prepared.stats.items),

  async evaluate(rt, prepared, target) {
    const data = await loadDataset(rt, prepared);
    const cases = testCases(data);
    const { scorer, dispose } = await scorerFor(rt, prepared, data, target);
    try {
      const ranked = await rankTestCases(data, cases, scorer, (done) => rt.heartbeat({ evaluating: 'model', users: done, of: cases.length }));
      return { ...ranked, explanations: await explainSample(cases, scorer, data.itemIds.length + 1, maxLenOf(target)) };
    } finally {
      dispose();
    }
  },

  baseline: {
    label: 'popularity baseline',
    async evaluate(rt, prepared) {
      const data = await loadDataset(rt, prepared);
      const cases = testCases(data);
      const { metrics, evaluated } = await rankTestCases(data, cases, popularityScorer(popularityCounts(cases, data.itemIds.length)));
      return { metrics, evaluated };
    },
  },

  servingArtifacts: ['vocabulary'],
  precompute: (rt, _prepared, model) => precomputeTopItems(rt, model),
  serving: nextItemServing,
  feedback: nextItemFeedback,

  synthetic: () => syntheticStoreFiles(),
};
