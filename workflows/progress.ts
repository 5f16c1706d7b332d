/** Queries, signals and updates of the lifecycle workflow, shared by workflow, activities and CLI. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { APPROVAL_UPDATE, PROGRESS_QUERY, STEP_PROGRESS_SIGNAL, TRAINING_PROGRESS_SIGNAL, type ApprovalState, type LifecycleProgress, type StepProgressUpdate } from '../schemas/progress';
import type { TrainingProgress } from '../schemas/steps';
import type { ApprovalDecision } from '../schemas/operator-input';

export type { ApprovalState, LifecycleProgress, StepProgress, StepStatus } from '../schemas/progress';
export { APPROVAL_UPDATE, PROGRESS_QUERY, STEP_PROGRESS_SIGNAL, TRAINING_PROGRESS_SIGNAL };
export const progressQuery = defineQuery<LifecycleProgress>(PROGRESS_QUERY);
export const trainingProgressSignal = defineSignal<[TrainingProgress]>(TRAINING_PROGRESS_SIGNAL);
export const stepProgressSignal = defineSignal<[StepProgressUpdate]>(STEP_PROGRESS_SIGNAL);
/** An update rather than a signal: the caller learns at once whether its decision counted. */
export const approvalUpdate = defineUpdate<ApprovalState, [ApprovalDecision]>(APPROVAL_UPDATE);
