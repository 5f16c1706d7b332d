/** Queries and signals of the lifecycle workflow, shared by workflow, activities and CLI. */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { StepName, TrainingProgress } from '../schemas/steps';

export type StepStatus = 'pending' | 'running' | 'completed' | 'cached' | 'failed' | 'skipped';

export interface StepProgress {
  name: StepName;
  status: StepStatus;
  durationMs: number | null;
  rows?: number;
  detail?: string;
}

export interface LifecycleProgress {
  currentStep: StepName | null;
  steps: StepProgress[];
  training: TrainingProgress | null;
}

export const PROGRESS_QUERY = 'progress';
export const TRAINING_PROGRESS_SIGNAL = 'trainingProgress';
export const progressQuery = defineQuery<LifecycleProgress>(PROGRESS_QUERY);
export const trainingProgressSignal = defineSignal<[TrainingProgress]>(TRAINING_PROGRESS_SIGNAL);
