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
  /** Set while no worker has taken the step's task: what it waits for. */
  waitingFor?: string;
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

/** What the running step is doing: the training epoch and loss, or the rows read so far, or just its name. */
export function runningStepLabel(p: LifecycleProgress): string {
  const running = p.steps.find((s) => s.status === 'running');
  const step = running?.name ?? p.currentStep;
  const t = p.training;
  if (running?.waitingFor) return `${running.name}: ${running.waitingFor}`;
  if (step === 'train' && t) {
    return `train: epoch ${t.epoch}/${t.epochs}, loss ${t.loss.toFixed(4)}${t.validation !== undefined ? `, ${t.validationLabel ?? 'validation'} ${t.validation.toFixed(4)}` : ''}`;
  }
  if (running?.rows !== undefined) return `${running.name}: ${running.rows.toLocaleString('en-US')} rows${running.detail ? ` (${running.detail})` : ''}`;
  return step ?? '-';
}

/** The one line the Temporal UI lists a run by (its static summary, at most 200 bytes). */
export function runTitle(run: { kind?: string; dataset?: string }, trigger: string): string {
  return `${run.kind ?? 'next-item'} on ${run.dataset ?? 'store'}, ${trigger}`.slice(0, 200);
}

/**
 * The run's current details for the Temporal UI (Markdown): what it is doing now, then
 * every step's status, time, rows and detail. Set by the workflow as it goes, so an
 * operator sees a run's state without opening payloads.
 */
export function describeRunDetails(p: LifecycleProgress): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ').slice(0, 300);
  const now = p.approval?.status === 'waiting' ? `waiting for approval until ${p.approval.deadline}` : p.steps.some((s) => s.status === 'running') ? runningStepLabel(p) : 'between steps';
  const rows = p.steps.map((s) => `| ${s.name} | ${s.status} | ${s.durationMs === null ? '' : (s.durationMs / 1000).toFixed(1)} | ${s.rows ?? ''} | ${cell(s.detail ?? '')} |`);
  return [`**${p.kind}**: ${cell(now)}`, '', '| step | status | seconds | rows | detail |', '|---|---|---|---|---|', ...rows].join('\n');
}
