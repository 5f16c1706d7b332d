/**
 * The lifecycle workflow's one input object. Every field is optional with a sensible
 * default, so the Temporal UI's "Start Workflow" form works with `{}`. Parsed in the
 * workflow itself, so a bad field fails the run at once with a message naming it.
 */
import { z } from 'zod';
import { describeIssues } from './operator-input';

/**
 * The longest record (a CSV record or a JSON line) collect reads, in characters, by default.
 * A longer one fails its file at once, before it is buffered whole: a file with no line
 * breaks (a wrong format, a binary upload) must not be read to its end as one record.
 */
export const DEFAULT_MAX_RECORD_CHARS = 1_000_000;

export const DEFAULT_PIPELINE_TASK_QUEUE = 'storeloop-pipeline';
export const DEFAULT_TRAINING_TASK_QUEUE = 'storeloop-training';

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

/**
 * The feedback step: which window of served traffic it measures, and when drift or an
 * online-metric drop is large enough to start a retrain. PSI (population stability
 * index) below 0.1 is usually read as stable, 0.1-0.25 as a moderate and above 0.25 as a
 * significant shift. Each kind names its drift measures; `psiThresholds` sets one by name.
 */
export const FeedbackConfig = z
  .object({
    /** Days of feedback, ending at the run's data cut-off (or its start), that count as recent traffic. */
    windowDays: z.number().int().min(1).max(90).default(7),
    /** Retrain above this PSI between the training data and recent traffic, for every drift measure not in psiThresholds. */
    maxPsi: z.number().min(0).default(0.25),
    /** Per drift measure (e.g. "item-popularity", "tx_amount"): its own PSI threshold. */
    psiThresholds: z.record(z.string().min(1).max(100), z.number().min(0)).default({}),
    /** Retrain when the newest version's guarded online metric (hit rate, average precision, ...) is this much (relative) worse than the version served before it. */
    maxOnlineDrop: z.number().min(0).max(1).default(0.2),
    /** Fewer requests (or outcomes, for drift) than this and the step measures but raises no alarm. */
    minRequests: z.number().int().min(1).default(200),
    /** Fewer distinct users (served by each version compared, or in the window for drift) and no alarm is raised. */
    minUsers: z.number().int().min(1).default(50),
    /** An outcome counts for the online metrics only within this many hours after the answer it follows (the join reaches back one day). */
    creditWindowHours: z.number().positive().max(48).default(24),
    /** Start a retrain (a new lifecycle run) when an alarm is raised; false only reports it. */
    retrainOnAlarm: z.boolean().default(true),
  })
  .strict();
export type FeedbackConfig = z.output<typeof FeedbackConfig>;

/** One dimension of the search space: a list of choices, or a numeric range (log scale for rates). */
export const SearchDimension = z.union([
  z.object({ choices: z.array(z.union([z.number(), z.string()])).min(1).max(20) }).strict(),
  z
    .object({ min: z.number(), max: z.number(), scale: z.enum(['linear', 'log']).default('linear'), integer: z.boolean().default(false) })
    .strict()
    .refine((d) => d.min <= d.max, 'min must not be above max')
    .refine((d) => d.scale === 'linear' || d.min > 0, 'a log-scale range needs min > 0'),
]);
export type SearchDimension = z.output<typeof SearchDimension>;

/**
 * The optimize step: successive halving over `space` (default: the kind's search space). `trials` configurations train for
 * `minEpochs`; the best 1/`eta` of them train again for `eta` times the epochs, up to
 * `maxEpochs` (and never more than the run's `hyperparameters.epochs`), until one is left
 * or `maxMinutes` is spent. The winner is stored and later
 * runs use it unless their input sets hyperparameters.
 */
export const SearchConfig = z
  .object({
    /** Off by default so ad-hoc runs stay fast; the nightly schedule turns it on. */
    enabled: z.boolean().default(false),
    trials: z.number().int().min(1).max(64).default(6),
    eta: z.number().int().min(2).max(8).default(3),
    minEpochs: z.number().int().min(1).max(100).default(2),
    maxEpochs: z.number().int().min(1).max(500).default(18),
    /** Wall-clock budget of the whole search; trials still running then are cancelled. */
    maxMinutes: z.number().positive().max(24 * 60).default(120),
    seed: z.number().int().min(0).default(1),
    /** Hyperparameter name -> dimension; the kind's default space when absent. Names are checked against the kind's hyperparameters. */
    space: z
      .record(z.string().min(1).max(100), SearchDimension)
      .refine((space) => Object.keys(space).length > 0, 'the search space needs at least one hyperparameter')
      .optional(),
  })
  .strict()
  .refine((s) => s.minEpochs <= s.maxEpochs, { message: 'minEpochs must not be above maxEpochs', path: ['minEpochs'] });
export type SearchConfig = z.output<typeof SearchConfig>;

export const OptimizeConfig = z
  .object({
    search: SearchConfig.default(SearchConfig.parse({})),
    /** Train with the stored winner of the last search when the input sets no hyperparameters. */
    useSearchedHyperparameters: z.boolean().default(true),
  })
  .strict();
export type OptimizeConfig = z.output<typeof OptimizeConfig>;

/** Segments with fewer test cases are shown but left out of the disparity (their metric is noise). */
export const DEFAULT_MIN_SEGMENT_CASES = 30;

export const LifecycleInput = z
  .object({
    /** Which model kind runs the lifecycle (activities/model-kinds/registry.ts); checked by the first step. */
    kind: name.default('next-item'),
    /** Raw data comes from `raw/<dataset>/<source>/` for each of the kind's sources; the served model is `<dataset>-<kind>`. */
    dataset: name.default('store'),
    /** Only events before this instant are used (ISO-8601); defaults to all collected data. */
    dataCutoff: z.iso.datetime({ offset: true }).optional(),
    /** Task queue of the GPU/model worker pool that runs train and evaluate. */
    trainingTaskQueue: z.string().min(1).max(200).default(DEFAULT_TRAINING_TASK_QUEUE),
    /** Recompute every step even when a cached output for the same inputs exists. */
    force: z.boolean().default(false),
    /** Share of invalid rows a file may have before the collect step fails instead of quarantining. */
    maxBadRowFraction: z.number().min(0).max(1).default(0.05),
    /** The longest CSV record or JSON line, in characters: a longer one fails its file at once (no file is buffered whole as one record). */
    maxRecordChars: z.number().int().min(1_000).max(100_000_000).default(DEFAULT_MAX_RECORD_CHARS),
    /** Wait for an operator's decision (the `approval` update) before promoting a better model. */
    requireApproval: z.boolean().default(false),
    /** How long to wait for that decision; without one the champion stays. */
    approvalTimeout: z
      .string()
      .regex(/^[1-9][0-9]*(s|m|h|d)$/, 'must be a duration such as "90s", "30m", "24h" or "7d"')
      .default('24h'),
    /** The kind's hyperparameters; validated against its schema, with its defaults filled in, by the first step. */
    hyperparameters: z.record(z.string(), z.unknown()).default({}),
    /** The kind's own settings besides hyperparameters (transaction-risk: the evaluation windows, decision thresholds); validated by the first step. */
    options: z.record(z.string(), z.unknown()).default({}),
    /**
     * How training survives a lost worker (checkpoint cadence, how fast a silent worker is
     * declared dead) and how long a training task may wait for a worker to take it.
     */
    training: z
      .object({
        checkpointEverySteps: z.number().int().min(1).default(500),
        checkpointEverySeconds: z.number().int().min(1).default(120),
        heartbeatTimeoutSeconds: z.number().int().min(5).max(3600).default(60),
        /** After this long untaken, the queue's pollers are looked up (workflows/training-pool.ts). */
        workerWaitSeconds: z.number().int().min(5).max(86_400).default(600),
        /** With no worker polling the training queue: fail the step (NoTrainingWorker), or keep waiting, visibly. */
        whenNoWorker: z.enum(['fail', 'wait']).default('fail'),
      })
      .strict()
      .default({ checkpointEverySteps: 500, checkpointEverySeconds: 120, heartbeatTimeoutSeconds: 60, workerWaitSeconds: 600, whenNoWorker: 'fail' }),
    promotion: z
      .object({
        /** One of the kind's metrics (default its primary metric), compared in its direction. */
        metric: z.string().min(1).max(100).optional(),
        /** The new model must beat the champion by at least this much (absolute). */
        minImprovement: z.number().min(0).default(0),
        /**
         * Blocks a candidate whose worst disparity in the primary metric (difference to the best
         * segment, per attribute) exceeds the champion's on the same split by more than this.
         */
        maxDisparity: z.number().min(0).optional(),
      })
      .strict()
      .default({ minImprovement: 0 }),
    /** Fairness report: which of the kind's segment attributes to report (default all), and the smallest segment the disparity counts. */
    evaluation: z
      .object({
        segments: z.array(z.string().min(1).max(100)).max(20).optional(),
        minSegmentCases: z.number().int().min(1).default(DEFAULT_MIN_SEGMENT_CASES),
      })
      .strict()
      .default({ minSegmentCases: DEFAULT_MIN_SEGMENT_CASES }),
    /**
     * The run report (activities/run-report.ts). `epsilon`: differential privacy for the counts it
     * shows (rows, segment cases, requests), each with discrete Laplace noise of this ε; needs
     * STORELOOP_PSEUDONYM_KEY on the pipeline worker (activities/privacy/noisy-counts.ts).
     */
    report: z
      .object({ epsilon: z.number().positive().max(10).optional() })
      .strict()
      .default({}),
    feedback: FeedbackConfig.default(FeedbackConfig.parse({})),
    optimize: OptimizeConfig.default(OptimizeConfig.parse({})),
    /** Set on a retrain that a drift or online-metric alarm started: which run raised it, and why. A retrain never starts another. */
    retrainOf: z.object({ workflowId: z.string().min(1).max(400), reasons: z.array(z.string().max(500)).max(10) }).strict().optional(),
  })
  .strict();

export type LifecycleInputFields = z.input<typeof LifecycleInput>;
export type LifecycleConfig = z.output<typeof LifecycleInput>;

export class InvalidWorkflowInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidWorkflowInput';
  }
}

/** No input (undefined) means the defaults; anything else, null included, must be an input object. */
export function parseLifecycleInput(input: unknown): LifecycleConfig {
  const parsed = LifecycleInput.safeParse(input === undefined ? {} : input);
  if (parsed.success) return parsed.data;
  throw new InvalidWorkflowInputError(`invalid workflow input: ${describeIssues(parsed.error)}`);
}

export function servingModelName(config: Pick<LifecycleConfig, 'dataset' | 'kind'>): string {
  return `${config.dataset}-${config.kind}`;
}

/**
 * A model name's shape, `<dataset>-<kind>`, checked where the registered kinds are not known
 * (the rollback workflow cannot import the registry); parseModelName also checks the kind.
 */
export function assertModelNameShape(model: string): void {
  const dash = model.lastIndexOf('-');
  if (dash <= 0 || !name.safeParse(model).success || !name.safeParse(model.slice(0, dash)).success) {
    throw new InvalidWorkflowInputError(`model "${model}" must be <dataset>-<kind> (e.g. store-next-item)`);
  }
}

/** The inverse of servingModelName, given the registered kinds: "store-next-item" -> { dataset: "store", kind: "next-item" }. */
export function parseModelName(model: string, kinds: readonly string[]): { dataset: string; kind: string } {
  const kind = [...kinds].sort((a, b) => b.length - a.length).find((k) => model.endsWith(`-${k}`));
  const dataset = kind && model.slice(0, -kind.length - 1);
  if (!kind || !dataset || !name.safeParse(dataset).success) {
    throw new InvalidWorkflowInputError(`model "${model}" must be <dataset>-<kind>, with kind one of ${kinds.join(', ')} (e.g. store-next-item)`);
  }
  return { dataset, kind };
}
