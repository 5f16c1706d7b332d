/**
 * `storeloop runs ...`: lifecycle runs in Temporal. `watch` follows one through the
 * `progress` query (step, epoch, loss, approval); `approve`/`reject` answer its approval
 * gate with the validated `approval` update, so a refused decision says why at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { approvalUpdate, progressQuery, type LifecycleProgress } from '../workflows/progress';
import { runningStepLabel } from '../schemas/progress';
import type { LifecycleSummary } from '../workflows/lifecycle';
import { defaultOperator, output, table, withTemporal, type JsonOption } from './command-kit';

const TERMINAL_FAILURES = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'];

function limit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError('must be an integer from 1 to 1000');
  return n;
}

/** One line per change: the running step and what it is doing, or the approval wait, then the finished steps. */
export function describeProgress(p: LifecycleProgress): string {
  const done = p.steps.filter((s) => s.status !== 'pending' && s.status !== 'running').map((s) => `${s.name}:${s.status}`);
  const approval = p.approval?.status === 'waiting' ? ` waiting for approval until ${p.approval.deadline}` : '';
  return `step ${runningStepLabel(p)}${approval} | ${done.join(' ') || 'starting'}`;
}

async function watch(client: Client, workflowId: string, options: JsonOption & { interval: number }): Promise<number> {
  const handle: WorkflowHandle = client.workflow.getHandle(workflowId);
  let last = '';
  for (;;) {
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') return finish(handle, status.name, options);
    const progress = await handle.query(progressQuery).catch(() => null); // no workflow task yet
    const line = progress ? describeProgress(progress) : 'waiting for a worker to pick the run up';
    if (line !== last) {
      last = line;
      output(options, { workflowId, status: status.name, progress }, () => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`));
    }
    await sleep(options.interval);
  }
}

async function finish(handle: WorkflowHandle, status: string, options: JsonOption): Promise<number> {
  try {
    const summary = (await handle.result()) as LifecycleSummary;
    output(options, { workflowId: handle.workflowId, status, summary }, () => {
      console.log(`${handle.workflowId}: ${status}`);
      console.log(`Decision: ${summary.promoted ? `PROMOTED ${summary.version}` : `not promoted (champion stays ${summary.championVersion ?? 'none'})`}`);
      for (const reason of summary.reasons) console.log(`  - ${reason}`);
    });
    return 0;
  } catch (error) {
    let cause = error as Error; // the innermost failure: "Activity task failed" alone says nothing
    while (cause.cause instanceof Error) cause = cause.cause;
    output(options, { workflowId: handle.workflowId, status, error: cause.message }, () => console.log(`${handle.workflowId}: ${status}: ${cause.message}`));
    return TERMINAL_FAILURES.includes(status) ? 1 : 0;
  }
}

export function runsCommand(): Command {
  const runs = new Command('runs').description('lifecycle runs in Temporal: list, watch live progress, approve or reject a promotion');

  runs
    .command('list')
    .description('the latest lifecycle runs, newest first')
    .option('--limit <n>', 'how many', limit, 20)
    .option('--json', 'print one JSON object for scripts')
    .action((options: JsonOption & { limit: number }) =>
      withTemporal(async (client) => {
        const rows: Record<string, string>[] = [];
        for await (const run of client.workflow.list({ query: "WorkflowType = 'modelLifecycle'" })) {
          const scheduledBy = run.searchAttributes.TemporalScheduledById?.[0];
          rows.push({
            workflowId: run.workflowId,
            status: run.status.name,
            started: run.startTime.toISOString(),
            closed: run.closeTime?.toISOString() ?? '',
            schedule: typeof scheduledBy === 'string' ? scheduledBy : '',
          });
          if (rows.length >= options.limit) break;
        }
        output(options, { runs: rows }, () => table(rows));
      }),
    );

  runs
    .command('watch <workflowId>')
    .description('follow a run live (step, epoch, loss, approval) until it closes; exit 1 if it failed')
    .option('--interval <ms>', 'poll interval', limit, 1000)
    .option('--json', 'print one JSON object per change, one line each')
    .action(async (workflowId: string, options: JsonOption & { interval: number }) => {
      process.exitCode = await withTemporal((client) => watch(client, workflowId, options));
    });

  for (const approve of [true, false]) {
    runs
      .command(`${approve ? 'approve' : 'reject'} <workflowId>`)
      .description(approve ? 'let a run waiting for approval promote its model' : 'stop a run waiting for approval from promoting; the champion stays')
      .option('--by <name>', 'who decides (recorded)', defaultOperator())
      .option('--reason <text>', 'why (recorded)')
      .option('--json', 'print the gate\'s state as JSON')
      .action((workflowId: string, options: JsonOption & { by: string; reason?: string }) =>
        withTemporal(async (client) => {
          const state = await client.workflow.getHandle(workflowId).executeUpdate(approvalUpdate, { args: [{ approve, by: options.by, reason: options.reason }] });
          output(options, { workflowId, approval: state }, () => console.log(`${workflowId}: promotion ${state.status} by ${state.by}`));
        }),
      );
  }

  return runs;
}
