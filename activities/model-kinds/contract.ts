/**
 * The model-kind contract. A kind (next-item recommendation, transaction risk, ...) is one
 * folder under activities/model-kinds/ plus one line in registry.ts. It declares its data,
 * hyperparameters, metrics, model code, serving handler and feedback; the host (workflow,
 * collect, training harness, promotion gate, registry, feedback walk, search, report, CLI,
 * serving host) is written once and reads everything kind-specific from here.
 *
 * A kind never builds S3 keys, heartbeats, checkpoints or cache keys itself: the host's
 * runtimes (KindRuntime, TrainingRuntime, ServingHost) do that for it.
 */
import type { Schema, Table } from 'apache-arrow';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type * as tf from '@tensorflow/tfjs';
import type { ArtifactRef } from '../../schemas/artifacts';
import type { DatasetSnapshot, DriftMeasure, FeedbackResult, GlobalExplanation, Hyperparameters, Metrics, PreprocessResult, SegmentAttribute, StepContext } from '../../schemas/steps';
import type { FeedbackConfig, SearchDimension } from '../../schemas/lifecycle-input';
import type { NamedTensor, TrainingHooks, TrainingOutcome } from '../../ml/training-hooks';
import type { VersionManifest } from '../registry/serving-registry';
import type { ObjectStore } from '../storage/object-store';
import type { RowSchema } from '../collect/raw-files';
import type { LifecycleSummary } from '../../schemas/summary';
import type { PersonalFields } from '../privacy/personal-data';

export type { SegmentAttribute } from '../../schemas/steps';

export interface MetricSpec {
  /** Key in every metrics record, e.g. "ndcg@10", "ap", "cardPrecision@100". */
  name: string;
  label: string;
  direction: 'higher' | 'lower';
  format: 'ratio' | 'percent' | 'number';
  /**
   * For an online metric that is a share of counts (hits / requests): the metric keys of the
   * counts ('requests' is the version's request count), so an alarm on it needs a significant drop.
   */
  proportion?: { successes: string; trials: string };
}

/**
 * One raw data source: `raw/<dataset>/<name>/` (CSV, JSONL, Arrow IPC, gzip). `events`
 * sources are collected incrementally into `datasets/<dataset>/<name>/date=YYYY-MM-DD/`;
 * a `table` source (a catalogue export) is replaced whole by its newest file.
 */
export interface SourceContract<Row = unknown> {
  name: string;
  mode: 'events' | 'table';
  /** Validates one raw row (a zod object schema, whose shape lists the columns); errors name the field. */
  row: RowSchema<Row>;
  /** How validated rows are stored. */
  arrow: Schema;
  required: readonly string[];
  /** Arrow columns (by field name of `arrow`) of validated rows. */
  columns(rows: Row[]): Record<string, unknown[]>;
  /** Event time (epoch ms) that picks the row's date partition; events sources only. */
  timeOf?(row: Row): number;
  /** Set when the kind cannot train without this source. */
  requiredForTraining?: boolean;
  /**
   * Row fields that hold personal data, protected by collect before they are stored
   * (activities/privacy/). A derived table that keeps such a value keeps its column name, so
   * erasure finds it. Only events sources may have them: a table source's file is read whole on every run.
   */
  personal?: PersonalFields;
  /** Columns whose names look personal but hold no personal data (see privacy/personal-data.ts). */
  notPersonal?: readonly string[];
  /**
   * Columns whose values in a customer's rows name more of their data in other tables (a
   * transaction id names its later fraud label and its feature row): erasure removes those rows too.
   */
  linkedBy?: readonly string[];
}

/** A raw file of the embedded synthetic data, uploaded to `raw/<dataset>/<source>/<name>`. */
export interface RawFile {
  source: string;
  name: string;
  body: string | Uint8Array;
  contentType: string;
  /** Data rows, when known (tests compare what collect imported). */
  rows?: number;
}

/** What the host gives every kind step: artifact IO under the run's dataset, logging and progress. */
export interface KindRuntime {
  store: ObjectStore;
  log: Logger;
  ctx: StepContext;
  /** Liveness and progress for Temporal (no-op outside an activity). */
  heartbeat(details?: unknown): void;
  /** Writes a content-addressed Arrow artifact `artifacts/<dataset>/<kind>/<name>/<sha256>.arrow`. */
  putTable(name: string, table: Table): Promise<ArtifactRef>;
  putJson(name: string, value: unknown): Promise<ArtifactRef>;
  readTable(key: string): Promise<Table>;
}

/** The harness's side of training: hooks that heartbeat, checkpoint, resume and cancel, and the epoch reports' destination. */
export interface TrainingRuntime<State = unknown> extends KindRuntime {
  hooks: TrainingHooks<State>;
}

/** A trained model as the harness stores it: its weights, the JSON needed to rebuild it, and how training went. */
export interface TrainedModel extends TrainingOutcome {
  weights: NamedTensor[];
  /** Architecture and everything the model needs besides weights (feature names, scaling, calibration). */
  config: Record<string, unknown>;
  /** Shown in the step's detail, e.g. "full softmax". */
  notes?: Record<string, unknown>;
  dispose(): void;
}

/** A stored model bundle, decoded: its config and weights. The kind rebuilds its model from them and owns the tensors (disposes them). */
export interface ModelBundle {
  config: Record<string, unknown>;
  tensors: Record<string, tf.Tensor>;
  weightsSha256: string;
  metadata: Record<string, unknown>;
}

/**
 * A model to evaluate with the artifacts it was trained with: the candidate with this run's
 * artifacts, or a served version with the artifacts published beside it.
 */
export interface ModelUnderTest {
  bundle: ModelBundle;
  /** Object key of a named preprocessing artifact of this model. */
  artifactKey(name: string): string;
}

export interface Evaluation extends SegmentedEvaluation {
  metrics: Metrics;
  /** Cases scored (users, transactions, ...). */
  evaluated: number;
  /**
   * The model's global explanation on a sample of the test split (a few hundred cases: the
   * explain cost of serving, times that). The run report shows it against the champion's.
   * A kind's `evaluate` returns it; a baseline need not.
   */
  explanations?: GlobalExplanation;
}

/** The fairness part of an evaluation (activities/fairness.ts): one entry per attribute the kind declares. */
export interface SegmentedEvaluation {
  segments?: SegmentAttribute[];
}

/** The kind's serving side, mounted by the host (serving/server.ts). */
export interface ServingHandler<Loaded> {
  /**
   * Loads a published version: its bundle and the artifacts in its manifest. `previous` is the
   * version live until now (a hot swap), whose online state the new one may take over.
   */
  load(version: VersionToLoad, previous?: Loaded): Promise<Loaded>;
  dispose(loaded: Loaded): void;
  /** Shown on /ready next to the version. */
  describe(loaded: Loaded): Record<string, unknown>;
  /**
   * Registers the kind's routes, including POST /feedback. Every route that is not a GET is a
   * write (it needs credentials, serving/write-access.ts) unless registered with SCORING_ROUTE.
   */
  routes(app: ServingApp, host: ServingHost<Loaded>): void;
  /** A valid request for a loaded version: the conformance suite and bench:serving send it. */
  sampleRequest(loaded: Loaded): { method: 'GET' | 'POST'; url: string; body?: unknown };
  /**
   * What the kind's answers hold under `explanation` when a request asks `?explain=true`
   * (host.explains): shown on /ready, and the conformance suite checks every route gives one.
   */
  explanation: ExplanationSpec;
}

/** How a kind explains one answer (README, "Explanations"). */
export interface ExplanationSpec {
  /** ml/explain.ts's gradient methods, leave-one-out occlusion, or the model's own additive decomposition. */
  method: 'gradient-x-input' | 'integrated-gradients' | 'occlusion' | 'decomposition';
  /** What is attributed, and to what, e.g. "message words -> logit of the predicted intent". */
  attributes: string;
}

/**
 * Route options of a POST that only scores (answers from the model and logs what it answered):
 * a read, open like a GET. `app.post('/risk/score', SCORING_ROUTE, handler)`.
 */
export const SCORING_ROUTE = { config: { scoring: true } } as const;

/** Host knobs of dynamic batching (serving/batcher.ts). */
export interface ServingSettings {
  /** Most concurrent requests scored in one model call; 1 scores each request alone. */
  maxScoringBatch: number;
  /** Longest a request waits for others to join its batch, in ms (0: only those that arrive in the same turn of the event loop). */
  batchWindowMs: number;
}

/** Scores many requests' inputs in one model call: one output per input, in their order. */
export type BatchScoring<Input, Output> = (inputs: Input[]) => Promise<Output[]>;

export interface VersionToLoad {
  store: ObjectStore;
  manifest: VersionManifest;
  bundle: ModelBundle;
  artifactKey(name: string): string;
  /** Whether the version has an artifact (a precomputed one is absent from versions published before the kind computed it). */
  hasArtifact(name: string): boolean;
  settings: ServingSettings;
  /**
   * The host's dynamic batcher over `scoreMany`, for this version only: concurrent requests'
   * inputs are scored together (up to settings.maxScoringBatch, waiting at most
   * settings.batchWindowMs), and each request gets its own output or its own error. A kind
   * whose model can score a batch wraps its model call in it; one that cannot needs nothing.
   */
  batch<Input, Output>(scoreMany: BatchScoring<Input, Output>): (input: Input) => Promise<Output>;
  log: Logger;
}

/** What the serving host offers a kind's routes. */
export interface ServingHost<Loaded> {
  model: string;
  log: Logger;
  /** Validates a request part; a failure becomes a 400 naming the field. */
  parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S>;
  /** The same for a parse result (bodies that are one object or an array of them). */
  check<T>(parsed: z.ZodSafeParseResult<T>): T;
  /**
   * Runs `work` on the live version, leased so a swap cannot dispose it mid-request, logs the
   * rows it returns to the feedback log, and answers with its body plus request id, model and version.
   */
  serve(request: FastifyRequest, reply: FastifyReply, work: (loaded: Loaded, version: string) => Promise<{ body: Record<string, unknown>; logged: Record<string, unknown>[] }>): Promise<Record<string, unknown>>;
  /**
   * Whether the request asked for an explanation (`?explain=true`; a 400 names `explain` for
   * another value). The host takes `explain` out of the query before the route sees it, so a
   * route computes its explanation only when this says so.
   */
  explains(request: FastifyRequest): boolean;
  /** The live version (503 before there is one); for rows that only need to name it. */
  liveVersion(): string;
  /** The live version's loaded model, for routes that update its state (labels). */
  live(): Loaded;
  /**
   * Logs rows to `feedback/<model>/date=.../` in the kind's feedback schema, once each user
   * among them (the feedback `userColumn`) is within its rate: else a 429, and nothing is logged.
   */
  logFeedback(rows: Record<string, unknown>[]): Promise<void>;
  /** Who an outcome is credited to: the version that answered its request while that is remembered, else the live one. */
  creditedVersion(requestId?: string | null): string;
  /**
   * The stored form of a customer id from a request (its keyed pseudonym when
   * STORELOOP_PSEUDONYM_KEY is set, else the id): what a route looks the customer up by.
   */
  pseudonymOf(id: string): string;
}

/** The day-by-day accumulator of the host's feedback walk (activities/feedback.ts). */
export interface FeedbackWalk {
  add(row: Record<string, unknown>): void;
  /** Called after each day's files, oldest day first. */
  endDay(): void;
  perVersion(): FeedbackResult['perVersion'];
  /** Drift measures by name, computed against the run's training data. */
  drift(thresholdOf: (name: string) => number, minSample: number): Promise<Record<string, DriftMeasure>>;
}

export interface FeedbackHandler {
  /** The rows the serving side logs (one Arrow schema; the walk validates each row with `row`). */
  arrow: Schema;
  row: z.ZodType<Record<string, unknown>, unknown>;
  /** The column that names the end user of a row, when rows have one (next-item: user_id): serving bounds each user's events by it. */
  userColumn?: string;
  /** Columns of logged rows holding personal data: the serving host protects them before the log is written, as collect does for sources. */
  personal?: PersonalFields;
  notPersonal?: readonly string[];
  /** Online metrics per version, and the one whose drop between versions raises an alarm. */
  online: MetricSpec[];
  guarded: string;
  start(rt: KindRuntime, prepared: PreprocessResult, config: FeedbackConfig): FeedbackWalk;
}

/** A source of any row type, as the host handles them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnySourceContract = SourceContract<any>;

/** The host's HTTP app, whatever its logger type. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ServingApp = FastifyInstance<any, any, any, any>;

export interface ModelKind<HP extends Hyperparameters = Hyperparameters, Loaded = unknown> {
  name: string;
  description: string;
  sources: readonly AnySourceContract[];
  hyperparameters: {
    schema: z.ZodType<HP, unknown>;
    searchSpace: Record<string, z.input<typeof SearchDimension>>;
  };
  /** The kind's `options` input (not searched): evaluation windows, thresholds. Defaults fill an empty object. */
  options?: z.ZodType<Record<string, unknown>, unknown>;
  metrics: {
    specs: MetricSpec[];
    /** What promotion compares. */
    primary: string;
    /** What early stopping and the search rank by (computed on a validation split, never the test split). */
    validation: MetricSpec;
  };
  /**
   * The attributes the kind's evaluate segments the test split by (every one, every time);
   * the input's `evaluation.segments` may pick some. Extra per-segment metrics (not in `specs`) are shown too.
   */
  segments?: readonly { name: string; label: string }[];
  baseline: { label: string; evaluate(rt: KindRuntime, prepared: PreprocessResult): Promise<Evaluation> };
  /** Configuration of preprocessing that its cache key must include (from the input), e.g. protocol dates. */
  preprocessKey?(ctx: StepContext): unknown;
  preprocess(rt: KindRuntime, snapshot: DatasetSnapshot): Promise<Omit<PreprocessResult, 'cached' | 'kind'>>;
  train(rt: TrainingRuntime, prepared: PreprocessResult, hyperparameters: HP): Promise<TrainedModel>;
  /** An upper bound on the memory training needs, in bytes: the harness refuses a configuration that cannot fit its worker before it allocates anything. */
  trainingMemoryBytes?(prepared: PreprocessResult, hyperparameters: HP): number;
  evaluate(rt: KindRuntime, prepared: PreprocessResult, model: ModelUnderTest): Promise<Evaluation>;
  /** Preprocessing artifacts every served version needs; deploy copies them beside the model. */
  servingArtifacts: readonly string[];
  /**
   * Model outputs computed once when a version is deployed and published with it (a batch
   * forecast of every series, known users' top-k), named like serving artifacts and read by
   * the serving handler through `artifactKey`. Deterministic: a retried deploy writes the same objects.
   */
  precompute?(rt: KindRuntime, prepared: PreprocessResult, model: ModelUnderTest): Promise<Record<string, ArtifactRef>>;
  serving: ServingHandler<Loaded>;
  feedback: FeedbackHandler;
  /** The embedded default data, when a dataset has none. */
  synthetic(): RawFile[];
  /** Extra run-report sections (Markdown), after the host's; every count they show goes through `shown` (noised under `report.epsilon`). */
  reportSections?(summary: Omit<LifecycleSummary, 'runReport'>, shown: (name: string, value: number) => number): string[];
}

/** Any registered kind, whatever its hyperparameter and serving types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModelKind = ModelKind<any, any>;
