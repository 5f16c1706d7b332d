/**
 * The nightly Temporal Schedule of a model, `nightly-<model>`: cron in a time zone
 * (02:00 UTC unless told otherwise), a catch-up window and overlap policy SKIP.
 *
 * One run per model and night: the Schedule appends each run's nominal time to the
 * workflow id (`nightly-store-next-item-2026-03-01T02:00:00Z`), and Temporal allows one
 * open execution per workflow id, so the nightly run, a trigger or a backfill for the same
 * instant cannot run side by side; the scheduler also refuses to start a nightly slot
 * twice (REJECT_DUPLICATE), while a deliberate backfill may re-run a closed night. On top
 * of that, SKIP means a schedule never has two runs in flight: a night that comes while
 * the previous run still trains is skipped and counted, not queued. Each run reads its
 * nominal time (search attribute TemporalScheduledStartTime) as its data cut-off.
 */
import { runTitle } from '../schemas/progress';
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Duration, Workflow } from '@temporalio/common';
import { parseLifecycleInput, parseModelName, type LifecycleInputFields } from '../schemas/lifecycle-input';
import type { TemporalConfig } from './config';
import { KIND_NAMES } from '../activities/model-kinds/registry';

export const DEFAULT_CRON = '0 2 * * *';
export const DEFAULT_TIMEZONE = 'UTC';
/** How late a missed night (server down at 02:00) may still start once Temporal is back. */
export const DEFAULT_CATCHUP_WINDOW = '12h';

export const scheduleIdFor = (model: string) => `nightly-${model}`;

export interface NightlyScheduleOptions {
  model: string;
  cron?: string;
  timezone?: string;
  catchupWindow?: string;
  /** Extra lifecycle input for every run, e.g. hyperparameters; never dataCutoff. */
  input?: LifecycleInputFields;
}

function lifecycleAction(config: TemporalConfig, model: string, extra: LifecycleInputFields = {}): ScheduleOptionsStartWorkflowAction<Workflow> {
  const { dataset, kind } = parseModelName(model, KIND_NAMES);
  if (extra.dataCutoff !== undefined) {
    throw new Error('a schedule\'s runs take their data cut-off from their nominal time; leave dataCutoff out of --input');
  }
  // The workflow cannot read this process's environment: tell it where training runs.
  // Nights have time for the hyperparameter search that ad-hoc runs leave off by default.
  const optimize = { ...extra.optimize, search: { enabled: true, ...extra.optimize?.search } };
  const input: LifecycleInputFields = { trainingTaskQueue: config.trainingTaskQueue, ...extra, optimize, dataset, kind };
  parseLifecycleInput(input); // refuse a bad input now, not at 02:00
  return { type: 'startWorkflow', workflowType: 'modelLifecycle', taskQueue: config.pipelineTaskQueue, workflowId: scheduleIdFor(model), args: [input], staticSummary: runTitle(input, `schedule ${scheduleIdFor(model)}`) };
}

/** Creates the schedule, or brings an existing one to exactly these options (idempotent). */
export async function upsertNightlySchedule(client: Client, config: TemporalConfig, options: NightlyScheduleOptions): Promise<'created' | 'updated'> {
  const desired = {
    spec: { cronExpressions: [options.cron ?? DEFAULT_CRON], timezone: options.timezone ?? DEFAULT_TIMEZONE },
    action: lifecycleAction(config, options.model, options.input),
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: (options.catchupWindow ?? DEFAULT_CATCHUP_WINDOW) as Duration },
  };
  try {
    await client.schedule.create({ scheduleId: scheduleIdFor(options.model), ...desired });
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    // Paused stays paused: create-or-update sets the definition, pause/unpause the state.
    await client.schedule.getHandle(scheduleIdFor(options.model)).update((current) => ({ ...desired, state: current.state }));
    return 'updated';
  }
}

/** Changes only the given settings of an existing schedule; the others keep their values. */
export async function updateNightlySchedule(client: Client, config: TemporalConfig, options: NightlyScheduleOptions): Promise<void> {
  const action = options.input && lifecycleAction(config, options.model, options.input);
  await scheduleHandle(client, options.model).update((current) => ({
    ...current,
    spec: options.cron
      ? { cronExpressions: [options.cron], timezone: options.timezone ?? current.spec.timezone }
      : { ...current.spec, timezone: options.timezone ?? current.spec.timezone },
    action: action ?? current.action,
    policies: { ...current.policies, catchupWindow: (options.catchupWindow ?? current.policies.catchupWindow) as Duration },
  }));
}

export function scheduleHandle(client: Client, model: string): ScheduleHandle {
  parseModelName(model, KIND_NAMES);
  return client.schedule.getHandle(scheduleIdFor(model));
}

/**
 * Starts a run now, with the schedule's SKIP policy: the SDK's trigger() defaults to
 * ALLOW_ALL, which would start it beside a night that is still running.
 */
export async function triggerSchedule(client: Client, model: string): Promise<void> {
  await scheduleHandle(client, model).trigger(ScheduleOverlapPolicy.SKIP);
}

/**
 * Runs the schedule for every nominal time in [from, to], as if that time had come now.
 * Each run's cut-off is its nominal time. BUFFER_ALL, not the schedule's SKIP: the nights
 * of a backfill run one after another instead of all but the first being skipped.
 */
export async function backfillSchedule(client: Client, model: string, from: Date, to: Date): Promise<void> {
  if (!(from < to)) throw new Error(`backfill: --from (${from.toISOString()}) must be before --to (${to.toISOString()})`);
  await scheduleHandle(client, model).backfill({ start: from, end: to, overlap: ScheduleOverlapPolicy.BUFFER_ALL });
}

type CalendarField = { start: number | string; end: number | string; step: number }[];
const FULL_RANGES: Record<string, [number | string, number | string]> = {
  minute: [0, 59],
  hour: [0, 23],
  dayOfMonth: [1, 31],
  month: ['JANUARY', 'DECEMBER'],
  dayOfWeek: ['SUNDAY', 'SATURDAY'],
};

/**
 * The server keeps a cron only in its compiled calendar form; this writes it back as a
 * 5-field cron ("0 2 * * *") for people, with month and day names spelled out.
 */
export function cronOf(description: Pick<ScheduleDescription, 'spec'>): string {
  const calendar = description.spec.calendars?.[0] as Record<string, CalendarField> | undefined;
  if (!calendar) return '(no calendar)';
  return (['minute', 'hour', 'dayOfMonth', 'month', 'dayOfWeek'] as const)
    .map((field) => {
      const ranges = calendar[field] ?? [];
      const [first, last] = FULL_RANGES[field];
      if (ranges.length === 0 || (ranges.length === 1 && ranges[0].start === first && ranges[0].end === last && ranges[0].step <= 1)) return '*';
      return ranges.map((r) => (r.start === r.end ? `${r.start}` : `${r.start}-${r.end}${r.step > 1 ? `/${r.step}` : ''}`)).join(',');
    })
    .join(' ');
}
