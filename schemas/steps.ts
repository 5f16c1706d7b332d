/**
 * Typed inputs and outputs of the lifecycle steps: what each activity receives and
 * returns through Temporal. Only references and small summaries, never data.
 */
import {
  Field,
  Int32,
  List,
  Schema,
  Utf8,
} from 'apache-arrow';
import type { ArtifactRef } from './artifacts';
import type { LifecycleConfig, RecommenderHyperparameters } from './lifecycle-input';
import type { RankingMetrics } from '../ml/ranking';

export type StepName = 'collect' | 'preprocess' | 'train' | 'evaluate' | 'deploy' | 'feedback' | 'optimize';
export const STEP_NAMES: StepName[] = ['collect', 'preprocess', 'train', 'evaluate', 'deploy', 'feedback', 'optimize'];

/** What every step activity receives besides its own inputs. */
export interface StepContext {
  config: LifecycleConfig;
  workflowId: string;
  runId: string;
  /** Workflow start time (ISO), used wherever a step needs "now" deterministically. */
  startedAt: string;
}

export interface CollectResult {
  /** JSON manifest listing every partition file of the dataset at this point. */
  snapshot: ArtifactRef;
  newFiles: string[];
  skippedFiles: number;
  /** Listed but deleted before they could be read; not marked as ingested, so a re-upload is imported. */
  vanishedFiles: string[];
  rowsImported: number;
  totalRows: number;
  partitions: number;
  quarantinedRows: number;
  quarantine?: ArtifactRef;
}

export interface DatasetSnapshot {
  dataset: string;
  partitions: ArtifactRef[];
  ingestedFiles: { key: string; etag: string; rows: number; quarantined: number }[];
  /** The validated item catalogue, when the dataset has one. */
  catalogue?: ArtifactRef;
}

export interface PreprocessResult {
  sequences: ArtifactRef;
  vocabulary: ArtifactRef;
  events: number;
  duplicates: number;
  afterCutoff: number;
  users: number;
  evaluableUsers: number;
  items: number;
  interactions: number;
  cached: boolean;
}

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  validationNdcg10?: number;
}

export interface TrainResult {
  model: ArtifactRef;
  backend: string;
  bestEpoch: number;
  epochs: number;
  trainSeconds: number;
  samplesPerSecond: number;
  finalLoss: number;
  cached: boolean;
  /** Step of the checkpoint this training resumed from after a lost worker, else null. */
  resumedFromStep: number | null;
}

export interface ChampionRef {
  model: string;
  version: string;
  /** ETag of the alias object when it was read: the precondition of the next swap. */
  aliasEtag: string;
}

export interface EvaluateResult {
  candidate: RankingMetrics;
  baseline: RankingMetrics;
  champion: RankingMetrics | null;
  championRef: ChampionRef | null;
  promote: boolean;
  reasons: string[];
  report: ArtifactRef;
}

export interface DeployResult {
  promoted: boolean;
  model: string;
  version: string | null;
  servingUri: string | null;
  previousChampion: string | null;
  reason: string;
}

/** Online metrics of one model version over the feedback window. Outcomes count once per request and item. */
export interface OnlineMetrics {
  requests: number;
  impressions: number;
  /** Outcomes on an item of a list this version served (joined by request_id, else by user and item). */
  clicks: number;
  addToCarts: number;
  purchases: number;
  /** Outcomes that matched no impression in the window (item not shown, or its request too old). */
  unattributedOutcomes: number;
  /** Per impression. */
  ctr: number;
  addToCartRate: number;
  purchaseRate: number;
  /** Share of requests whose list held an item the user then clicked, added to the cart or bought. */
  hitRate: number;
  /** First impression of this version in the window (ISO): orders versions by when they went live. */
  firstSeen: string;
}

/** Population stability index between the training data (expected) and recent traffic (actual). */
export interface DriftMeasure {
  psi: number | null;
  threshold: number;
  /** Observations on the traffic side; below the configured minimum the PSI is not computed. */
  sample: number;
  buckets: { label: string; expected: number; actual: number }[];
}

export interface FeedbackResult {
  status: 'no-feedback' | 'measured';
  window: { from: string; to: string };
  files: number;
  events: number;
  invalidRows: number;
  perVersion: Record<string, OnlineMetrics>;
  drift: { itemPopularity: DriftMeasure; sequenceLength: DriftMeasure };
  /** Thresholds crossed, in words; each is a reason to retrain. */
  alarms: string[];
}

/** One configuration of a hyperparameter search: the values it sets on top of the run's hyperparameters. */
export interface SearchCandidate {
  id: string;
  params: Record<string, number | string>;
}

export interface TrialResult {
  candidate: SearchCandidate;
  rung: number;
  epochs: number;
  workflowId: string;
  /** Best validation NDCG@10 of the trial's training (never the test split). */
  validationNdcg10: number;
  bestEpoch: number;
  trainSeconds: number;
  cached: boolean;
  /** Why the trial could not train; it then scores 0. */
  error?: string;
}

export interface SearchResult {
  workflowId: string;
  trials: TrialResult[];
  /** The best trial of the highest rung that finished any trial. */
  best: TrialResult | null;
  /** What later runs use: the run's hyperparameters with the winner's values. */
  hyperparameters: RecommenderHyperparameters | null;
  stoppedBy: 'finished' | 'time budget';
  stored: string | null;
}

/** Where a run's hyperparameters came from, recorded in its summary and report. */
export interface ChosenHyperparameters {
  source: 'input' | 'search' | 'defaults';
  searchWorkflowId: string | null;
  values: RecommenderHyperparameters;
  note: string;
}

export interface RetrainRequest {
  workflowId: string;
  reasons: string[];
}

export interface OptimizeResult {
  historyRuns: number;
  historyKey: string;
  search: SearchResult | null;
  retrain: RetrainRequest | null;
  rationale: string;
}

/** Dense item vocabulary: index 0 is padding, items are 1..n. */
export const VOCABULARY_SCHEMA = new Schema([
  new Field('item_index', new Int32(), false),
  new Field('item_id', new Utf8(), false),
  new Field('interactions', new Int32(), false),
]);

/** One row per user: the chronological item sequence in dense indices. */
export const SEQUENCES_SCHEMA = new Schema([
  new Field('user_id', new Utf8(), false),
  new Field('items', new List(new Field('item', new Int32(), false)), false),
]);

/** Rows that failed validation, with the reason, kept in S3 instead of dropped. */
export const QUARANTINE_SCHEMA = new Schema([
  new Field('file', new Utf8(), false),
  new Field('row', new Int32(), false),
  new Field('field', new Utf8(), false),
  new Field('message', new Utf8(), false),
  new Field('raw', new Utf8(), false),
]);
