/**
 * What the lifecycle workflow shows while it runs (the `progress` query) and the names of
 * its signals and updates. Types and names only, so activities and the CLI share them
 * without importing workflow code.
 */
import type { StepName, TrainingProgress } from './steps';

export type StepStatus = 'pending' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped';

export interface StepProgress {
  name: StepName;
  status: StepStatus;
  durationMs: number | null;
  /** For a step served from the cache: how long computing it took originally. */
  savedMs?: number;
  rows?: number;
  detail?: string;
}

/** The approval gate before deploy, when the input asks for one. */
export interface ApprovalState {
  status: 'waiting' | 'approved' | 'rejected' | 'timed-out';
  /** When waiting ends without a decision (ISO). */
  deadline: string;
  by?: string;
  reason?: string;
}

export interface LifecycleProgress {
  kind: string;
  currentStep: StepName | null;
  steps: StepProgress[];
  training: TrainingProgress | null;
  approval: ApprovalState | null;
}

/** A running step's live count, sent by its activity (collect: rows read so far). */
export interface StepProgressUpdate {
  step: StepName;
  rows: number;
  detail?: string;
}

export const PROGRESS_QUERY = 'progress';
export const STEP_PROGRESS_SIGNAL = 'stepProgress';
export const TRAINING_PROGRESS_SIGNAL = 'trainingProgress';
export const APPROVAL_UPDATE = 'approval';
