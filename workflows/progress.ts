/** Queries, signals and updates of the lifecycle workflow, shared by workflow, activities and CLI. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StepName, TrainingProgress } from '../schemas/steps';
import type { ApprovalDecision } from '../schemas/operator-input';

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
  currentStep: StepName | null;
  steps: StepProgress[];
  training: TrainingProgress | null;
  approval: ApprovalState | null;
}

export const PROGRESS_QUERY = 'progress';
export const TRAINING_PROGRESS_SIGNAL = 'trainingProgress';
export const progressQuery = defineQuery<LifecycleProgress>(PROGRESS_QUERY);
export const trainingProgressSignal = defineSignal<[TrainingProgress]>(TRAINING_PROGRESS_SIGNAL);
/** An update rather than a signal: the caller learns at once whether its decision counted. */
export const APPROVAL_UPDATE = 'approval';
export const approvalUpdate = defineUpdate<ApprovalState, [ApprovalDecision]>(APPROVAL_UPDATE);
