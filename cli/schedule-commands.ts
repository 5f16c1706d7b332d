/** `storeloop schedule ...`: the nightly Temporal Schedule of a model (see infra/schedules.ts). */
import { Command } from 'commander';
import type { ScheduleDescription } from '@temporalio/client';
import {
  backfillSchedule,
  cronOf,
  DEFAULT_CATCHUP_WINDOW,
  DEFAULT_CRON,
  DEFAULT_TIMEZONE,
  scheduleHandle,
  scheduleIdFor,
  triggerSchedule,
  updateNightlySchedule,
  upsertNightlySchedule,
} from '../infra/schedules';
import { duration, instant, jsonObject, output, table, withTemporal, type JsonOption } from './command-kit';

interface DefinitionOptions extends JsonOption {
  cron?: string;
  timezone?: string;
  catchupWindow?: string;
  input?: Record<string, unknown>;
}

/** What people check on a schedule; --json prints the same fields. */
function view(d: ScheduleDescription) {
  return {
    scheduleId: d.scheduleId,
    cron: cronOf(d),
    timezone: d.spec.timezone ?? 'UTC',
    paused: d.state.paused,
    note: d.state.note ?? '',
    overlap: d.policies.overlap,
    catchupWindowSeconds: d.policies.catchupWindow / 1000,
    input: d.action.type === 'startWorkflow' ? d.action.args?.[0] : undefined,
    nextRuns: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
    running: d.info.runningActions.map((a) => a.workflow.workflowId),
    recent: d.info.recentActions.slice(-5).map((a) => ({ nominal: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
  };
}

function printView(v: ReturnType<typeof view>): void {
  const { recent, input, ...rest } = v;
  for (const [key, value] of Object.entries(rest)) console.log(`${key.padEnd(20)} ${Array.isArray(value) ? value.join(', ') || '-' : value}`);
  console.log(`${'input'.padEnd(20)} ${JSON.stringify(input)}`);
  if (recent.length > 0) table(recent);
}

async function describeAndPrint(model: string, options: JsonOption, headline?: string): Promise<void> {
  await withTemporal(async (client) => {
    const v = view(await scheduleHandle(client, model).describe());
    output(options, headline ? { result: headline, ...v } : v, () => {
      if (headline) console.log(`${v.scheduleId}: ${headline}`);
      printView(v);
    });
  });
}

const jsonFlag = (cmd: Command) => cmd.option('--json', 'print one JSON object for scripts');

export function scheduleCommand(): Command {
  const schedule = new Command('schedule').description('the nightly Temporal Schedule of a model: nightly-<model>, <model> = <dataset>-<kind>');

  jsonFlag(
    schedule
      .command('create <model>')
      .description('create the nightly schedule, or set an existing one to exactly these options (idempotent)')
      .option('--cron <expr>', 'when to run', DEFAULT_CRON)
      .option('--timezone <tz>', 'IANA time zone of the cron', DEFAULT_TIMEZONE)
      .option('--catchup-window <duration>', 'how late a missed run may still start', duration, DEFAULT_CATCHUP_WINDOW)
      .option('--input <json>', 'lifecycle input for every run, e.g. \'{"hyperparameters":{"epochs":20}}\'', jsonObject),
  ).action(async (model: string, options: DefinitionOptions) => {
    const result = await withTemporal((client, config) => upsertNightlySchedule(client, config.temporal, { model, ...options }));
    await describeAndPrint(model, options, result);
  });

  jsonFlag(
    schedule
      .command('update <model>')
      .description('change some settings of an existing schedule; the others stay')
      .option('--cron <expr>', 'when to run')
      .option('--timezone <tz>', 'IANA time zone of the cron')
      .option('--catchup-window <duration>', 'how late a missed run may still start', duration)
      .option('--input <json>', 'lifecycle input for every run (replaces the previous one)', jsonObject),
  ).action(async (model: string, options: DefinitionOptions) => {
    await withTemporal((client, config) => updateNightlySchedule(client, config.temporal, { model, ...options }));
    await describeAndPrint(model, options, 'updated');
  });

  jsonFlag(schedule.command('describe <model>').description('settings, next runs, running and recent runs')).action((model: string, options: JsonOption) =>
    describeAndPrint(model, options),
  );

  jsonFlag(schedule.command('pause <model>').description('stop starting nightly runs').option('--note <text>', 'why (shown by describe)', 'paused from the storeloop CLI')).action(
    async (model: string, options: JsonOption & { note: string }) => {
      await withTemporal((client) => scheduleHandle(client, model).pause(options.note));
      await describeAndPrint(model, options, 'paused');
    },
  );

  jsonFlag(schedule.command('unpause <model>').description('resume nightly runs').option('--note <text>', 'why', 'unpaused from the storeloop CLI')).action(
    async (model: string, options: JsonOption & { note: string }) => {
      await withTemporal((client) => scheduleHandle(client, model).unpause(options.note));
      await describeAndPrint(model, options, 'unpaused');
    },
  );

  jsonFlag(schedule.command('trigger <model>').description('start a run now (skipped if one is running); its cut-off is now')).action(
    async (model: string, options: JsonOption) => {
      await withTemporal((client) => triggerSchedule(client, model));
      await describeAndPrint(model, options, 'triggered');
    },
  );

  jsonFlag(
    schedule
      .command('backfill <model>')
      .description('run every scheduled time in a past range, one after another; each run trains on data up to its own time')
      .requiredOption('--from <date>', 'start, ISO date (UTC day) or date-time', instant)
      .requiredOption('--to <date>', 'end, inclusive; a date means the end of that UTC day', (value: string) =>
        /^\d{4}-\d{2}-\d{2}$/.test(value) ? new Date(instant(value).getTime() + 86_400_000 - 1) : instant(value),
      ),
  ).action(async (model: string, options: JsonOption & { from: Date; to: Date }) => {
    await withTemporal((client) => backfillSchedule(client, model, options.from, options.to));
    await describeAndPrint(model, options, `backfill ${options.from.toISOString()} .. ${options.to.toISOString()} requested`);
  });

  schedule.addHelpText('after', `\nSchedule ids are ${scheduleIdFor('<model>')}; runs are ${scheduleIdFor('<model>')}-<nominal time>.`);
  return schedule;
}
