/**
 * Typed inputs and outputs of the lifecycle steps: what each activity receives and
 * returns through Temporal. Only references and small summaries, never data.
 */
import type { ArtifactRef } from './artifacts';
import type { LifecycleConfig } from './lifecycle-input';

/** Metric name -> value, named as the kind's metric specs name them (e.g. "ndcg@10", "ap"). */
export type Metrics = Record<string, number>;

/**
 * A model's global explanation on a sample of the test split: the inputs (features, words,
 * history positions) with the largest mean |attribution| per case (an input absent from a
 * case counts 0 there), largest first.
 */
export interface GlobalExplanation {
  /** How each case was explained (the kind's ServingHandler.explanation.method). */
  method: string;
  /** What the attributions are of, e.g. "calibrated log-odds of fraud". */
  of: string;
  cases: number;
  top: { input: string; meanAbs: number }[];
}

/** A kind's hyperparameters after its schema filled in the defaults; every kind has `epochs`, the search's budget. */
export type Hyperparameters = Record<string, unknown> & { epochs: number };

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
  /** Re-uploaded with other content: their new rows replaced the ones imported from them before. */
  replacedFiles?: string[];
  rowsImported: number;
  totalRows: number;
  partitions: number;
  quarantinedRows: number;
  quarantine?: ArtifactRef;
  /** How the sources' personal columns were stored; absent in results from before it was recorded. */
  privacy?: DataPrivacy;
}

/** How collect stored the personal columns of a kind's sources (`source.column`; activities/privacy/). */
export interface DataPrivacy {
  /** Identifier columns stored as keyed pseudonyms (STORELOOP_PSEUDONYM_KEY is set). */
  pseudonymised: string[];
  /** Identifier columns stored as given, because no pseudonym key is set. */
  inTheClear: string[];
  /** Free-text columns, stored with e-mails, phone, card and order numbers masked. */
  masked: string[];
  /** Raw files deleted once their rows were stored protected (only with a pseudonym key). */
  rawFilesDeleted: number;
}

/** The collect watermark of one event source (`state/<dataset>/<source>/collect.json`). */
export interface SourceState {
  partitions: ArtifactRef[];
  /** The files whose rows are in the partitions; `partitions` are the keys of the ones each file wrote (absent in states written before they were recorded). */
  ingestedFiles: IngestedFile[];
  /** Earlier versions of re-uploaded files, whose rows were taken out again (the audit trail). */
  replacedFiles?: (IngestedFile & { replacedAt: string })[];
  /**
   * Fingerprint of the pseudonym key the partitions' ids were hashed with (null: stored as
   * given); absent in states from before it was recorded, which are read as null.
   */
  pseudonymKey?: string | null;
}

export interface IngestedFile {
  key: string;
  etag: string;
  rows: number;
  quarantined: number;
  partitions?: string[];
}

export interface DatasetSnapshot {
  dataset: string;
  /** Event sources (incremental, date-partitioned) by name. */
  sources: Record<string, SourceState>;
  /** Table sources (a full export each time, such as a catalogue): the newest file's validated table, by name. */
  tables: Record<string, ArtifactRef>;
}

/** What a kind's preprocess step produced: named artifacts (everything training, evaluation and serving read) and counts. */
export interface PreprocessResult {
  kind: string;
  artifacts: Record<string, ArtifactRef>;
  /** Counts for the summary and the report, e.g. users, items, transactions, frauds. */
  stats: Record<string, number>;
  /** Rows of the main training table, shown beside the step. */
  rows: number;
  /** One line for the step's detail column. */
  detail: string;
  cached: boolean;
}

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  /** The kind's validation metric after the epoch, and its label. */
  validation?: number;
  validationLabel?: string;
}

export interface TrainResult {
  model: ArtifactRef;
  backend: string;
  bestEpoch: number;
  epochs: number;
  trainSeconds: number;
  samplesPerSecond: number;
  finalLoss: number;
  /** Best validation metric of the run (the epoch the model was kept from). */
  bestValidation: number;
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

/**
 * The test split cut by one attribute (spending tier, language, ...): each segment's metrics
 * (at least the primary one) and case count. Tier boundaries come from the training split.
 */
export interface SegmentAttribute {
  /** One of the kind's `segments` names. */
  attribute: string;
  label: string;
  segments: { segment: string; cases: number; metrics: Metrics }[];
}

/** The fairness report of an evaluation: the reported attributes of the candidate and of the champion (same split). */
export interface SegmentReport {
  candidate: SegmentAttribute[];
  champion: SegmentAttribute[] | null;
  /** Segments with fewer cases are shown but left out of the disparity. */
  minCases: number;
}

export interface EvaluateResult {
  /** The metric that decided, and its direction. */
  primaryMetric: string;
  candidate: Metrics;
  baseline: Metrics;
  /** What the baseline is, e.g. "popularity baseline". */
  baselineLabel: string;
  champion: Metrics | null;
  championRef: ChampionRef | null;
  promote: boolean;
  reasons: string[];
  report: ArtifactRef;
  /** Cases the test split scored (users, transactions, ...). */
  evaluated: number;
  /** Global explanations of the candidate and the champion, when the kind computes them. */
  explanations: { candidate: GlobalExplanation | null; champion: GlobalExplanation | null };
  segments: SegmentReport;
}

export interface DeployResult {
  promoted: boolean;
  model: string;
  version: string | null;
  servingUri: string | null;
  previousChampion: string | null;
  reason: string;
}

/** Online metrics of one model version over the feedback window, named as the kind's online metric specs. */
export interface OnlineMetrics {
  requests: number;
  /** Distinct users served by this version, where the kind's traffic names users. */
  users?: number;
  /** First request of this version in the window (ISO): orders versions by when they went live. */
  firstSeen: string;
  metrics: Metrics;
}

/** Population stability index between the training data (expected) and recent traffic (actual). */
export interface DriftMeasure {
  label: string;
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
  /** By measure name, e.g. "item-popularity", "tx_amount". */
  drift: Record<string, DriftMeasure>;
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
  /** Best validation metric of the trial's training (never the test split); null when it produced none. */
  validation: number | null;
  /** `validation` oriented so that higher is better (negated for a lower-is-better metric): what trials are ranked by. */
  score: number;
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
  hyperparameters: Hyperparameters | null;
  stoppedBy: 'finished' | 'time budget';
  stored: string | null;
}

/** Where a run's hyperparameters came from, recorded in its summary and report. */
export interface ChosenHyperparameters {
  source: 'input' | 'search' | 'defaults';
  searchWorkflowId: string | null;
  values: Hyperparameters;
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
