import assert from 'node:assert/strict';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { testStack } from './test-stack';
import { eventually, seedDataset, storeloop, TINY } from './ops-fixtures';
import { scheduleHandle, triggerSchedule } from '../../infra/schedules';
import type { LifecycleSummary } from '../../workflows/lifecycle';

interface ScheduleView {
  result?: string;
  scheduleId: string;
  cron: string;
  timezone: string;
  paused: boolean;
  overlap: string;
  catchupWindowSeconds: number;
  input: { dataset: string; hyperparameters: unknown; optimize: unknown };
  nextRuns: string[];
  running: string[];
  skippedOverlap: number;
}

describe('nightly schedules @integration', () => {
  const dataset = `sched-${Date.now()}`;
  const model = `${dataset}-next-item`;

  before(() => testStack()); // the CLI talks to the stack the tests start

  after(async () => {
    const { workers } = await testStack();
    await scheduleHandle(workers.client, model).delete();
  });

  it('creates idempotently (02:00 UTC, SKIP, catch-up window), updates, pauses and unpauses', async () => {
    const input = JSON.stringify({ hyperparameters: TINY });
    const created = await storeloop('schedule', 'create', model, '--input', input, '--json');
    assert.equal(created.code, 0, created.stderr);
    const c = created.json<ScheduleView>();
    assert.deepEqual([c.result, c.scheduleId, c.cron, c.timezone, c.overlap, c.catchupWindowSeconds, c.paused], ['created', `nightly-${model}`, '0 2 * * *', 'UTC', 'SKIP', 12 * 3600, false]);
    assert.equal(c.input.dataset, dataset);
    assert.deepEqual(c.input.optimize, { search: { enabled: true } }, 'nights run the hyperparameter search');
    assert.match(c.nextRuns[0], /T02:00:00\.000Z$/);

    const again = await storeloop('schedule', 'create', model, '--input', input, '--timezone', 'Europe/Berlin', '--json');
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual([again.json<ScheduleView>().result, again.json<ScheduleView>().timezone], ['updated', 'Europe/Berlin']);

    const paused = await storeloop('schedule', 'pause', model, '--note', 'data migration', '--json');
    assert.equal(paused.json<ScheduleView>().paused, true);
    const updated = await storeloop('schedule', 'update', model, '--cron', '15 1 * * *', '--catchup-window', '2h', '--json');
    const u = updated.json<ScheduleView>();
    assert.deepEqual([u.cron, u.timezone, u.catchupWindowSeconds, u.paused, u.input.hyperparameters], ['15 1 * * *', 'Europe/Berlin', 7200, true, TINY], 'update keeps what it was not given');
    assert.equal((await storeloop('schedule', 'unpause', model, '--json')).json<ScheduleView>().paused, false);

    const missing = await storeloop('schedule', 'pause', 'nothing-here-next-item');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no schedule nightly-nothing-here-next-item; create it with/);
    const badInput = await storeloop('schedule', 'create', model, '--input', '{"dataCutoff":"2026-01-01T00:00:00Z"}');
    assert.equal(badInput.code, 1);
    assert.match(badInput.stderr, /leave dataCutoff out/);
  });

  it('a backfill for a past night trains on data up to that night; the same night cannot run twice at once; trigger skips while it runs, else runs now', async () => {
    const { config, workers } = await testStack();
    await seedDataset(workers.store, dataset); // events from 2026-10-05 to 2026-11-01
    const backfill = await storeloop('schedule', 'backfill', model, '--from', '2026-10-20', '--to', '2026-10-20', '--json');
    assert.equal(backfill.code, 0, backfill.stderr);

    // The cron is now 01:15 Europe/Berlin (CEST, UTC+2): in the UTC day 2026-10-20 it fires at 23:15.
    const workflowId = `nightly-${model}-2026-10-20T23:15:00Z`;
    const handle = workers.client.workflow.getHandle(workflowId);
    await eventually('the backfilled run', async () => ((await handle.describe()).status.name === 'RUNNING' ? true : undefined));

    await assert.rejects(
      workers.client.workflow.start('modelLifecycle', { taskQueue: config.temporal.pipelineTaskQueue, workflowId, args: [{ dataset }] }),
      WorkflowExecutionAlreadyStartedError,
    );
    // A trigger while the night runs is skipped (overlap SKIP), not run beside it.
    await triggerSchedule(workers.client, model);
    const skipped = await eventually('the trigger to be skipped', async () => {
      const d = await scheduleHandle(workers.client, model).describe();
      return d.info.numActionsSkippedOverlap >= 1 ? d : undefined;
    });
    assert.deepEqual(skipped.info.runningActions.map((a) => a.workflow.workflowId), [workflowId]);

    const summary: LifecycleSummary = await handle.result();
    assert.equal(summary.dataCutoff, '2026-10-20T23:15:00.000Z');
    assert.ok(summary.data.stats.afterCutoff > 0, 'later events were left out');
    assert.ok(summary.optimize.search?.best, summary.optimize.rationale);

    // With nothing running, a trigger starts a run now, whose cut-off is now.
    const requested = Date.now();
    const triggered = await storeloop('schedule', 'trigger', model, '--json');
    assert.equal(triggered.code, 0, triggered.stderr);
    const started = await eventually('the triggered run', async () => {
      const recent = (await scheduleHandle(workers.client, model).describe()).info.recentActions;
      return recent.find((a) => a.scheduledAt.getTime() >= requested - 1000);
    });
    const now: LifecycleSummary = await workers.client.workflow.getHandle(started.action.workflow.workflowId).result();
    assert.ok(Math.abs(Date.parse(now.dataCutoff!) - requested) < 60_000, `cut-off ${now.dataCutoff} is the trigger time`);
    assert.equal(now.data.stats.afterCutoff, 0);
  });
});
