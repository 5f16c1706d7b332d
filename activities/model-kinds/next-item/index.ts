/**
 * The next-item recommendation plug-in: how this model kind preprocesses, trains and
 * evaluates. The lifecycle workflow and the generic steps know nothing model-specific.
 */
import * as tf from '@tensorflow/tfjs';
import { putTable, readBatches, readTable } from '../../storage/arrow-io';
import { cachedStep } from '../../storage/step-cache';
import { activityKey, cancellationRequested, heartbeat, isCancelled, previousHeartbeat } from '../../progress';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoints';
import { readChampion, readVersionManifest, versionPrefix } from '../../registry/serving-registry';
import { evaluateRanking, popularityScorer, type BatchScorer, type RankingMetrics } from '../../../ml/ranking';
import { trainNextItemModel, useSampledSoftmax, type EpochReport } from '../../../ml/train';
import { loadModelBundle, saveModelBundle } from '../../../ml/model-bundle';
import { selectBackend } from '../../../ml/backend';
import { seededRng, shuffled } from '../../../ml/random';
import { servingModelName } from '../../../schemas/lifecycle-input';
import {
  SequenceBuilder,
  datasetFromTables,
  popularityCounts,
  sequencesTable,
  testCases,
  trainingSequences,
  validationCases,
  vocabularyTable,
  type SequenceDataset,
} from './sequences';
import type { ObjectStore } from '../../storage/object-store';
import type { ArtifactRef } from '../../../schemas/artifacts';
import type { DatasetSnapshot, EvaluateResult, PreprocessResult, StepContext, TrainResult } from '../../../schemas/steps';
import type { Logger } from 'pino';

/** Retrying cannot help: there is nothing to train on until data arrives. */
export class EmptyDatasetError extends Error {
  constructor(dataset: string, partitions: number) {
    super(
      partitions === 0
        ? `dataset ${dataset} has no events: upload files to raw/${dataset}/events/ (storeloop import <file> --dataset ${dataset})`
        : `dataset ${dataset} has no events before the cut-off`,
    );
    this.name = 'EmptyDatasetError';
  }
}

interface TrainHeartbeat {
  epoch: number;
  step: number;
  steps: number;
  loss: number;
  checkpoint?: string;
}

export interface NextItemDeps {
  store: ObjectStore;
  log: Logger;
  onEpoch?: (ctx: StepContext, report: EpochReport) => Promise<void>;
}

export async function preprocessNextItem(deps: NextItemDeps, ctx: StepContext, snapshotRef: ArtifactRef): Promise<PreprocessResult> {
  const { store } = deps;
  const { dataset, dataCutoff, force } = ctx.config;
  return cachedStep(store, 'preprocess/next-item', { snapshot: snapshotRef.sha256, dataCutoff }, force, async () => {
    const snapshot = await store.getJson<DatasetSnapshot>(snapshotRef.key);
    const builder = new SequenceBuilder(dataCutoff ? Date.parse(dataCutoff) : undefined);
    for (const [index, partition] of snapshot.partitions.entries()) {
      for await (const batch of readBatches(store, partition.key)) {
        const users = batch.getChild('user_id')!;
        const items = batch.getChild('item_id')!;
        const types = batch.getChild('event_type')!;
        const times = batch.getChild('timestamp')!;
        for (let row = 0; row < batch.numRows; row++) {
          builder.add({ userId: users.get(row), itemId: items.get(row), eventType: types.get(row), timestamp: Number(times.get(row)) });
        }
      }
      heartbeat({ partitions: index + 1, of: snapshot.partitions.length });
    }
    const data = builder.build();
    if (data.itemIds.length === 0) throw new EmptyDatasetError(dataset, snapshot.partitions.length);
    const sequences = await putTable(store, `artifacts/${dataset}/sequences`, sequencesTable(data));
    const vocabulary = await putTable(store, `artifacts/${dataset}/vocabulary`, vocabularyTable(data));
    return {
      sequences,
      vocabulary,
      ...builder.stats,
      users: data.userIds.length,
      evaluableUsers: validationCases(data).length,
      items: data.itemIds.length,
      interactions: data.sequences.reduce((n, s) => n + s.length, 0),
      cached: false,
    };
  });
}

async function loadDataset(store: ObjectStore, prepared: PreprocessResult): Promise<SequenceDataset> {
  return datasetFromTables(await readTable(store, prepared.vocabulary.key), await readTable(store, prepared.sequences.key));
}

export async function trainNextItem(deps: NextItemDeps, ctx: StepContext, prepared: PreprocessResult): Promise<TrainResult> {
  const { store, log } = deps;
  const hp = ctx.config.hyperparameters;
  return cachedStep(store, 'train/next-item', { sequences: prepared.sequences.sha256, hp }, ctx.config.force, async () => {
    const backend = await selectBackend(log);
    const data = await loadDataset(store, prepared);
    const allValidation = validationCases(data);
    const validation =
      hp.validationUsers > 0 && allValidation.length > hp.validationUsers
        ? shuffled(allValidation, seededRng(`validation-${hp.seed}`)).slice(0, hp.validationUsers)
        : allValidation;
    log.info(
      { users: data.userIds.length, items: data.itemIds.length, softmax: useSampledSoftmax(hp, data.itemIds.length) ? 'sampled' : 'full', backend: backend.name },
      'training next-item recommender',
    );
    // A retry after a lost worker continues from the newest complete checkpoint of this
    // activity. Heartbeats name it too, but throttled heartbeats can lag behind.
    const attempt = activityKey();
    const checkpointPrefix = `checkpoints/${ctx.config.dataset}/${ctx.workflowId}/${attempt ?? `local-${Date.now()}`}`;
    const resumeKey = attempt && (await latestCheckpoint(store, checkpointPrefix));
    const resumeFrom = resumeKey ? await loadCheckpoint(store, resumeKey) : undefined;
    if (resumeKey) {
      // Warn: a resume means a worker was lost, which operators want to see.
      log.warn({ checkpoint: resumeKey, step: resumeFrom?.state.step, epoch: resumeFrom?.state.epoch, lastHeartbeat: previousHeartbeat<TrainHeartbeat>() }, 'resuming training from checkpoint');
    }
    let checkpoint = resumeKey;
    const result = await trainNextItemModel({
      hyperparameters: hp,
      numItems: data.itemIds.length,
      sequences: trainingSequences(data),
      validation,
      resumeFrom,
      checkpoints: {
        everySteps: ctx.config.training.checkpointEverySteps,
        everySeconds: ctx.config.training.checkpointEverySeconds,
        save: async (c) => {
          checkpoint = await saveCheckpoint(store, checkpointPrefix, c);
          log.info({ checkpoint, step: c.state.step, epoch: c.state.epoch }, 'checkpoint saved');
        },
      },
      onStep: (epoch, step, steps, loss) => heartbeat({ epoch, step, steps, loss, checkpoint } satisfies TrainHeartbeat),
      onEpoch: async (report) => {
        log.info({ ...report, memoryMB: +(report.bytes / 2 ** 20).toFixed(1) }, 'epoch done');
        await deps.onEpoch?.(ctx, report);
      },
      shouldStop: isCancelled,
    }).catch(async (error: unknown) => {
      // A cancelled run is never resumed (a new run trains under its own prefix): drop its checkpoints.
      if (cancellationRequested()) await store.deletePrefix(`${checkpointPrefix}/`);
      throw error;
    });
    if (resumeFrom) tf.dispose(resumeFrom.tensors.map((t) => t.tensor));
    try {
      const model = await saveModelBundle(store, `artifacts/${ctx.config.dataset}/models`, result.model, { backend: backend.name, tfjsVersion: tf.version_core }, {
        history: result.history,
        bestEpoch: result.bestEpoch,
        sequences: prepared.sequences.sha256,
      });
      // The model is saved: its checkpoints have served their purpose.
      await store.deletePrefix(`${checkpointPrefix}/`);
      const last = result.history[result.history.length - 1];
      return {
        model,
        backend: backend.name,
        bestEpoch: result.bestEpoch,
        epochs: result.history.length,
        trainSeconds: result.trainSeconds,
        samplesPerSecond: result.samples / result.stepSeconds,
        finalLoss: last.loss,
        cached: false,
        resumedFromStep: result.resumedFromStep,
      };
    } finally {
      result.model.dispose();
    }
  });
}

/**
 * The champion was trained on an earlier vocabulary: translate histories into its index
 * space and its scores back into ours (items it has never seen score -Infinity).
 */
async function championScorer(store: ObjectStore, model: string, version: string, data: SequenceDataset) {
  const { model: champion } = await loadModelBundle(store, `${versionPrefix(model, version)}/model.json`);
  const championVocabulary = await readTable(store, `${versionPrefix(model, version)}/vocabulary.arrow`);
  const championIndex = new Map<string, number>();
  for (const row of championVocabulary) championIndex.set(row.item_id as string, row.item_index as number);
  const toChampion = Int32Array.from([0, ...data.itemIds.map((id) => championIndex.get(id) ?? -1)]);
  const numScores = data.itemIds.length + 1;
  const scorer: BatchScorer = async (histories) => {
    const translated = histories.map((h) => Int32Array.from([...h].map((i) => toChampion[i]).filter((i) => i > 0)));
    const championScores = await champion.scoreNext(translated);
    const width = champion.config.numItems + 1;
    const out = new Float32Array(histories.length * numScores).fill(Number.NEGATIVE_INFINITY);
    for (let row = 0; row < histories.length; row++) {
      for (let item = 1; item < numScores; item++) {
        const c = toChampion[item];
        if (c > 0) out[row * numScores + item] = championScores[row * width + c];
      }
    }
    return out;
  };
  return { scorer, dispose: () => champion.dispose() };
}

export async function evaluateNextItem(
  deps: NextItemDeps,
  ctx: StepContext,
  prepared: PreprocessResult,
  trained: TrainResult,
): Promise<EvaluateResult> {
  const { store, log } = deps;
  await selectBackend(log);
  const modelName = servingModelName(ctx.config);
  const data = await loadDataset(store, prepared);
  const cases = testCases(data);
  const numScores = data.itemIds.length + 1;
  const progress = (what: string) => (done: number) => heartbeat({ evaluating: what, users: done, of: cases.length });

  const { model: candidateModel, json: candidateJson } = await loadModelBundle(store, trained.model.key);
  let candidate: RankingMetrics;
  try {
    candidate = await evaluateRanking(cases, numScores, (h) => candidateModel.scoreNext(h), 256, progress('candidate'));
  } finally {
    candidateModel.dispose();
  }
  const baseline = await evaluateRanking(cases, numScores, popularityScorer(popularityCounts(cases, data.itemIds.length)));

  const live = await readChampion(store, modelName);
  let champion: RankingMetrics | null = null;
  let championWeights: string | undefined;
  if (live) {
    const manifest = await readVersionManifest(store, modelName, live.alias.version);
    championWeights = manifest.lineage.weightsSha256;
    const scorer = await championScorer(store, modelName, live.alias.version, data);
    try {
      champion = await evaluateRanking(cases, numScores, scorer.scorer, 256, progress('champion'));
    } finally {
      scorer.dispose();
    }
  }

  const { metric, minImprovement } = ctx.config.promotion;
  const reasons: string[] = [];
  const fmt = (m: RankingMetrics) => m[metric].toFixed(4);
  let promote: boolean;
  if (live && championWeights === candidateJson.weightsSha256) {
    promote = false;
    reasons.push(`the candidate has the same weights as the live champion ${live.alias.version}`);
  } else if (champion && live) {
    promote = candidate[metric] > champion[metric] + minImprovement;
    reasons.push(
      `${metric} ${fmt(candidate)} vs champion ${live.alias.version} ${fmt(champion)}: ` +
        (promote ? 'better' : `not better by more than ${minImprovement}`),
    );
  } else {
    promote = candidate[metric] > baseline[metric] + minImprovement;
    reasons.push(`no champion yet; ${metric} ${fmt(candidate)} vs popularity baseline ${fmt(baseline)}: ${promote ? 'better' : 'not better'}`);
  }
  if (candidate[metric] <= baseline[metric]) {
    promote = false;
    reasons.push(`the candidate does not beat the popularity baseline (${fmt(candidate)} <= ${fmt(baseline)})`);
  }

  const report = await store.putJsonArtifact(`reports/${modelName}`, {
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    candidate,
    baseline,
    champion,
    championVersion: live?.alias.version ?? null,
    promote,
    reasons,
    training: trained,
    data: { users: data.userIds.length, items: data.itemIds.length, evaluatedUsers: cases.length },
  });
  return { candidate, baseline, champion, championRef: live?.ref ?? null, promote, reasons, report };
}
