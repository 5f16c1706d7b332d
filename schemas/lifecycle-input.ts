/**
 * The lifecycle workflow's one input object. Every field is optional with a sensible
 * default, so the Temporal UI's "Start Workflow" form works with `{}`. Parsed in the
 * workflow itself, so a bad field fails the run at once with a message naming it.
 */
import { z } from 'zod';
import { describeIssues } from './operator-input';

export const DEFAULT_PIPELINE_TASK_QUEUE = 'storeloop-pipeline';
export const DEFAULT_TRAINING_TASK_QUEUE = 'storeloop-training';

export const MODEL_KINDS = ['next-item'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"')
  .refine((s) => !s.includes('..'), 'must not contain ".."');

export const RecommenderHyperparameters = z
  .object({
    /** sasrec: causal self-attention; gru: GRU4Rec-style recurrent encoder. */
    model: z.enum(['sasrec', 'gru']).default('sasrec'),
    maxLen: z.number().int().min(2).max(200).default(50),
    hiddenDim: z.number().int().min(8).max(512).default(64),
    blocks: z.number().int().min(1).max(4).default(2),
    heads: z.number().int().min(1).max(8).default(1),
    dropout: z.number().min(0).max(0.9).default(0.2),
    learningRate: z.number().positive().max(1).default(0.001),
    batchSize: z.number().int().min(8).max(4096).default(128),
    epochs: z.number().int().min(1).max(500).default(40),
    patience: z.number().int().min(1).max(100).default(5),
    /** full: softmax over every item; sampled: over the target and `sampledNegatives`; auto: full up to `fullSoftmaxMaxItems`. */
    softmax: z.enum(['auto', 'full', 'sampled']).default('auto'),
    // The native backend's fused cross-entropy makes every item affordable up to here; the
    // logits of a full batch are then at most ~0.6 GB.
    fullSoftmaxMaxItems: z.number().int().min(1).default(25000),
    sampledNegatives: z.number().int().min(1).max(100000).default(512),
    /** Users whose validation ranking drives early stopping (0 = all). */
    validationUsers: z.number().int().min(0).default(0),
    seed: z.number().int().min(0).default(42),
  })
  .strict()
  .refine((hp) => hp.hiddenDim % hp.heads === 0, { message: 'hiddenDim must be divisible by heads', path: ['heads'] });
export type RecommenderHyperparameters = z.output<typeof RecommenderHyperparameters>;

/**
 * The feedback step: which window of served traffic it measures, and when drift or an
 * online-metric drop is large enough to start a retrain. PSI (population stability
 * index) below 0.1 is usually read as stable, 0.1-0.25 as a moderate and above 0.25 as a
 * significant shift.
 */
export const FeedbackConfig = z
  .object({
    /** Days of feedback, ending at the run's data cut-off (or its start), that count as recent traffic. */
    windowDays: z.number().int().min(1).max(90).default(7),
    /** Buckets of equal training-data mass for the item-popularity PSI (plus one for items the training data lacks). */
    popularityBuckets: z.number().int().min(2).max(100).default(10),
    /** Retrain above this PSI between training and recent item popularity. */
    maxItemPopularityPsi: z.number().min(0).default(0.25),
    /** Retrain above this PSI between training users' sequence lengths and the served users' history lengths. */
    maxSequenceLengthPsi: z.number().min(0).default(0.25),
    /** Retrain when the newest version's hit rate is this much (relative) below the version served before it. */
    maxHitRateDrop: z.number().min(0).max(1).default(0.2),
    /** Fewer requests (or outcomes, for popularity) than this and the step measures but raises no alarm. */
    minRequests: z.number().int().min(1).default(200),
    /** Start a retrain (a new lifecycle run) when an alarm is raised; false only reports it. */
    retrainOnAlarm: z.boolean().default(true),
  })
  .strict();
export type FeedbackConfig = z.output<typeof FeedbackConfig>;

/** Hyperparameters a search may vary: numbers (not epochs, which is the search's budget) and the architecture. */
export const SEARCHABLE_HYPERPARAMETERS = ['model', 'maxLen', 'hiddenDim', 'blocks', 'heads', 'dropout', 'learningRate', 'batchSize', 'sampledNegatives'] as const;
export type SearchableHyperparameter = (typeof SEARCHABLE_HYPERPARAMETERS)[number];

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

const DEFAULT_SEARCH_SPACE: Partial<Record<SearchableHyperparameter, z.input<typeof SearchDimension>>> = {
  learningRate: { min: 0.0003, max: 0.01, scale: 'log' },
  dropout: { min: 0, max: 0.5 },
  hiddenDim: { choices: [32, 64, 128] },
};

/**
 * The optimize step: successive halving over `space`. `trials` configurations train for
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
    space: z
      .partialRecord(z.enum(SEARCHABLE_HYPERPARAMETERS), SearchDimension)
      .refine((space) => Object.keys(space).length > 0, 'the search space needs at least one hyperparameter')
      .prefault(DEFAULT_SEARCH_SPACE),
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

export const LifecycleInput = z
  .object({
    /** Which model plug-in runs the lifecycle. */
    kind: z.enum(MODEL_KINDS).default('next-item'),
    /** Raw data comes from `raw/<dataset>/events/`; the served model is `<dataset>-<kind>`. */
    dataset: name.default('store'),
    /** Only events before this instant are used (ISO-8601); defaults to all collected data. */
    dataCutoff: z.iso.datetime({ offset: true }).optional(),
    /** Task queue of the GPU/model worker pool that runs train and evaluate. */
    trainingTaskQueue: z.string().min(1).max(200).default(DEFAULT_TRAINING_TASK_QUEUE),
    /** Recompute every step even when a cached output for the same inputs exists. */
    force: z.boolean().default(false),
    /** Share of invalid rows a file may have before the collect step fails instead of quarantining. */
    maxBadRowFraction: z.number().min(0).max(1).default(0.05),
    /** Wait for an operator's decision (the `approval` update) before promoting a better model. */
    requireApproval: z.boolean().default(false),
    /** How long to wait for that decision; without one the champion stays. */
    approvalTimeout: z
      .string()
      .regex(/^[1-9][0-9]*(s|m|h|d)$/, 'must be a duration such as "90s", "30m", "24h" or "7d"')
      .default('24h'),
    hyperparameters: RecommenderHyperparameters.default(RecommenderHyperparameters.parse({})),
    /** How training survives a lost worker: checkpoint cadence and how fast a silent worker is declared dead. */
    training: z
      .object({
        checkpointEverySteps: z.number().int().min(1).default(500),
        checkpointEverySeconds: z.number().int().min(1).default(120),
        heartbeatTimeoutSeconds: z.number().int().min(5).max(3600).default(60),
      })
      .strict()
      .default({ checkpointEverySteps: 500, checkpointEverySeconds: 120, heartbeatTimeoutSeconds: 60 }),
    promotion: z
      .object({
        metric: z.enum(['ndcg@10', 'hr@10', 'ndcg@20', 'hr@20']).default('ndcg@10'),
        /** The new model must beat the champion by at least this much (absolute). */
        minImprovement: z.number().min(0).default(0),
      })
      .strict()
      .default({ metric: 'ndcg@10', minImprovement: 0 }),
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

export function parseLifecycleInput(input: unknown): LifecycleConfig {
  const parsed = LifecycleInput.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  throw new InvalidWorkflowInputError(`invalid workflow input: ${describeIssues(parsed.error)}`);
}

export function servingModelName(config: Pick<LifecycleConfig, 'dataset' | 'kind'>): string {
  return `${config.dataset}-${config.kind}`;
}

/** The inverse of servingModelName: "store-next-item" -> { dataset: "store", kind: "next-item" }. */
export function parseModelName(model: string): { dataset: string; kind: ModelKind } {
  const kind = MODEL_KINDS.find((k) => model.endsWith(`-${k}`));
  const dataset = kind && model.slice(0, -kind.length - 1);
  if (!kind || !dataset || !name.safeParse(dataset).success) {
    throw new InvalidWorkflowInputError(`model "${model}" must be <dataset>-<kind>, with kind one of ${MODEL_KINDS.join(', ')} (e.g. store-next-item)`);
  }
  return { dataset, kind };
}
