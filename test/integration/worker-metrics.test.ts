import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { seedDataset, TINY } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { dashboardMetricNames } from './grafana-dashboard';

/** Counters the SDK exports only once they first count: a healthy test run fails no workflow. */
const ONLY_AFTER_A_FAILURE = ['temporal_workflow_failed_total'];

async function scrape(address: string): Promise<string> {
  const response = await fetch(`http://${address}/metrics`);
  assert.equal(response.status, 200, `${address}/metrics`);
  return response.text();
}

/** The sum of every series of `name` whose labels include all of `labels`. */
function total(text: string, name: string, labels: Record<string, string> = {}): number {
  return text
    .split('\n')
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('worker metrics for Prometheus @integration', () => {
  it('both workers export the SDK\'s task metrics and storeloop\'s step durations and rows, and they count a run', async () => {
    const { config, workers } = await testStack();
    const [pipeline, training] = [process.env.STORELOOP_PIPELINE_METRICS_ADDRESS!, process.env.STORELOOP_TRAINING_METRICS_ADDRESS!];
    const before = { pipeline: await scrape(pipeline), training: await scrape(training) };
    const dataset = `metrics-${Date.now()}`;
    await seedDataset(workers.store, dataset);
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    let after = { pipeline: await scrape(pipeline), training: await scrape(training) };
    const moved = (which: 'pipeline' | 'training', name: string, labels: Record<string, string> = {}) => total(after[which], name, labels) - total(before[which], name, labels);
    // The SDK's own counters reach the exporter a moment after the task they count: scrape again until the run's completion shows.
    for (let waited = 0; moved('pipeline', 'temporal_workflow_completed_total', { workflow_type: 'modelLifecycle' }) < 1 && waited < 15_000; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      after = { pipeline: await scrape(pipeline), training: await scrape(training) };
    }

    const collect = { step: 'collect', kind: 'next-item', outcome: 'completed' };
    assert.equal(moved('pipeline', 'storeloop_step_duration_seconds_count', collect), 1);
    assert.equal(moved('pipeline', 'storeloop_step_rows_total', collect), run.summary.data.rowsImported);
    assert.equal(moved('training', 'storeloop_step_duration_seconds_count', { step: 'train', outcome: 'completed' }), 1);
    assert.ok(moved('pipeline', 'temporal_workflow_completed_total', { workflow_type: 'modelLifecycle' }) >= 1);
    for (const [which, queue] of [['pipeline', config.temporal.pipelineTaskQueue], ['training', config.temporal.trainingTaskQueue]] as const) {
      assert.ok(moved(which, 'temporal_activity_execution_latency_seconds_count', { task_queue: queue }) >= 1, `${which}: activity latencies`);
      // The queue backlog: activity tasks always come through their task queue. (A workflow's
      // tasks may all be served on the worker's sticky queue, so its workflow-task
      // schedule-to-start count need not move in one run; the dashboard check below finds it exported.)
      assert.ok(moved(which, 'temporal_activity_schedule_to_start_latency_seconds_count', { task_queue: queue }) >= 1, `${which}: activity schedule-to-start`);
      assert.match(after[which], /^temporal_worker_task_slots_available\{/m, `${which}: slots`);
      assert.match(after[which], /^temporal_num_pollers\{/m, `${which}: pollers`);
    }

    const exported = `${after.pipeline}\n${after.training}`;
    const queried = dashboardMetricNames().filter((name) => !name.startsWith('storeloop_serving_') && !ONLY_AFTER_A_FAILURE.includes(name));
    assert.ok(queried.length >= 8, queried.join(', '));
    for (const name of queried) assert.match(exported, new RegExp(`^${name}[{ ]`, 'm'), `the dashboard queries ${name}, which the workers do not export`);
  });
});
