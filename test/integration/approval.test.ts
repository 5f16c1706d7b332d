import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { testStack } from './test-stack';
import { eventually, seedDataset, storeloop, TINY } from './ops-fixtures';
import { readChampion } from '../../activities/registry/serving-registry';
import { approvalUpdate, progressQuery, type LifecycleProgress } from '../../workflows/progress';
import type { LifecycleSummary } from '../../workflows/lifecycle';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';

const dataset = `approval-${Date.now()}`;
const model = `${dataset}-next-item`;

async function startRun(extra: LifecycleInputFields): Promise<WorkflowHandle> {
  const { config, workers } = await testStack();
  return workers.client.workflow.start('modelLifecycle', {
    taskQueue: config.temporal.pipelineTaskQueue,
    workflowId: `${model}-${Date.now()}`,
    args: [{ trainingTaskQueue: config.temporal.trainingTaskQueue, dataset, hyperparameters: TINY, requireApproval: true, ...extra }],
  });
}

const waitingForApproval = (handle: WorkflowHandle) =>
  eventually('the approval gate', async () => {
    const p: LifecycleProgress = await handle.query(progressQuery);
    return p.approval?.status === 'waiting' ? p : undefined;
  });

// One dataset for the three runs: the first trains, the others reuse its cached model, and
// with no champion yet each of them has a model to promote and so stops at the gate.
describe('approval gate before deploy @integration', () => {
  before(async () => seedDataset((await testStack()).workers.store, dataset));

  it('a rejected run keeps the champion and says who rejected it and why; bad decisions are refused; `runs watch` follows it', async () => {
    const handle = await startRun({});
    const { workers } = await testStack();
    const watching = storeloop('runs', 'watch', handle.workflowId, '--interval', '200', '--json');
    const waiting = await waitingForApproval(handle);
    assert.ok(Date.parse(waiting.approval!.deadline) > Date.now() + 23 * 3600_000, 'default timeout 24h');

    await assert.rejects(handle.executeUpdate(approvalUpdate, { args: [{ approve: true, by: ' ' }] }), (e: Error) => {
      assert.ok(e instanceof WorkflowUpdateFailedError);
      assert.match(String(e.cause?.message), /by: must name the person deciding/);
      return true;
    });

    const cli = await storeloop('runs', 'reject', handle.workflowId, '--by', 'bob', '--reason', 'offline metrics look off', '--json');
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.json<{ approval: { status: string } }>().approval.status, 'rejected');

    const summary: LifecycleSummary = await handle.result();
    assert.equal(summary.promoted, false);
    assert.deepEqual({ status: summary.approval?.status, by: summary.approval?.by }, { status: 'rejected', by: 'bob' });
    assert.match(summary.reasons.at(-1)!, /promotion rejected by bob: offline metrics look off/);
    assert.equal(await readChampion(workers.store, model), null);

    const watch = await watching;
    assert.equal(watch.code, 0, watch.stderr);
    const lines = watch.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string; progress?: LifecycleProgress; summary?: LifecycleSummary });
    const trained = lines.find((l) => l.progress?.training)?.progress?.training;
    assert.ok(trained && trained.epoch >= 1 && Number.isFinite(trained.loss), 'watch showed epoch and loss');
    assert.ok(lines.some((l) => l.progress?.approval?.status === 'waiting'), 'watch showed the approval wait');
    assert.deepEqual([lines.at(-1)!.status, lines.at(-1)!.summary?.approval?.status], ['COMPLETED', 'rejected']);
  });

  it('a run nobody decides on times out and keeps the champion', async () => {
    const handle = await startRun({ approvalTimeout: '2s' });
    const summary: LifecycleSummary = await handle.result();
    assert.equal(summary.promoted, false);
    assert.equal(summary.approval?.status, 'timed-out');
    assert.match(summary.reasons.at(-1)!, /no approval decision before .*; the champion stays/);
    assert.equal(await readChampion((await testStack()).workers.store, model), null);
  });

  it('an approved run promotes and the promotion record names the approver', async () => {
    const handle = await startRun({});
    await waitingForApproval(handle);
    const state = await handle.executeUpdate(approvalUpdate, { args: [{ approve: true, by: 'carol', reason: 'checked the report' }] });
    assert.equal(state.status, 'approved');

    const summary: LifecycleSummary = await handle.result();
    assert.equal(summary.promoted, true);
    assert.equal(summary.approval?.status, 'approved');
    const live = await readChampion((await testStack()).workers.store, model);
    assert.equal(live?.alias.version, summary.version);
    assert.match(live!.alias.promotedBy, new RegExp(`workflow ${handle.workflowId}/.*, approved by carol`));

    const list = await storeloop('runs', 'list', '--limit', '5', '--json');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.json<{ runs: { workflowId: string; status: string }[] }>().runs.some((r) => r.workflowId === handle.workflowId && r.status === 'COMPLETED'));
  });
});
