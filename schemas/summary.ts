/** The lifecycle workflow's result: one run of one model kind, as the CLI, the report and the history show it. */
import type { ApprovalState, StepProgress } from './progress';
import type { ChosenHyperparameters, DataPrivacy, FeedbackResult, GlobalExplanation, Metrics, OptimizeResult, RetrainRequest, SegmentReport } from './steps';

export interface LifecycleSummary {
  kind: string;
  workflowId: string;
  runId: string;
  status: 'completed';
  model: string;
  /** Rows at or after this instant were left out (null: all collected data). */
  dataCutoff: string | null;
  steps: StepProgress[];
  /** The metric promotion compared; every metrics record is keyed by the kind's metric names. */
  primaryMetric: string;
  metrics: Metrics;
  baseline: Metrics;
  baselineLabel: string;
  champion: Metrics | null;
  championVersion: string | null;
  /** Global explanations (test-split sample) of the new model and the champion; null where the kind computes none. */
  explanations: { candidate: GlobalExplanation | null; champion: GlobalExplanation | null };
  /** Per-segment metrics of the candidate and the champion (absent in summaries written before segments existed). */
  segments?: SegmentReport;
  promoted: boolean;
  /** The approval gate's outcome; null when the input did not ask for approval or nothing was to be promoted. */
  approval: ApprovalState | null;
  version: string | null;
  servingUri: string | null;
  reasons: string[];
  /** The evaluation's JSON record (content-addressed). */
  report: string;
  /** The human-readable run report (Markdown with SVG charts beside it). */
  runReport: string;
  hyperparameters: ChosenHyperparameters;
  backend: string;
  data: { rowsImported: number; totalRows: number; quarantinedRows: number; stats: Record<string, number>; privacy?: DataPrivacy };
  training: { epochs: number; bestEpoch: number; bestValidation: number; trainSeconds: number; samplesPerSecond: number; cached: boolean; resumedFromStep: number | null };
  feedback: FeedbackResult;
  optimize: OptimizeResult;
  /** The retrain this run started because of a feedback alarm, if any. */
  retrain: RetrainRequest | null;
}
