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
import type { LifecycleConfig } from './lifecycle-input';
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

export interface FeedbackResult {
  status: 'no-feedback' | 'measured';
  events: number;
  perVersion: Record<string, { impressions: number; clicks: number; addToCarts: number; purchases: number; ctr: number }>;
}

export interface OptimizeResult {
  historyRuns: number;
  proposal: Record<string, number | string>;
  rationale: string;
  historyKey: string;
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
