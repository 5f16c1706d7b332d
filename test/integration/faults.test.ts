/**
 * Faults and mistakes end in a clear outcome, never a hang: a training queue nobody
 * polls, a configuration too big for the worker, a file that is one endless line, two
 * stack starts at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testStack, log } from './test-stack';
import { s3Healthy, stackDown, stackUp, temporalHealthy } from '../../infra/local-stack';
import { PROJECT_ROOT, type StoreloopConfig } from '../../infra/config';
import { runLifecycle, startLifecycle } from '../../cli/local-run';
import { progressQuery } from '../../workflows/progress';
import { runningStepLabel } from '../../schemas/progress';
import type { LocalWorkers } from '../../cli/local-run';

/** A small events file: 40 users walking over 30 items. */
async function uploadSmallStore(workers: LocalWorkers, dataset: string): Promise<void> {
  const lines = ['user_id,item_id,event_type,timestamp'];
  for (let u = 0; u < 40; u++) {
    for (let k = 0; k < 6; k++) lines.push(`u${u},i${(u * 7 + k) % 30},view,2024-01-0${1 + (k % 5)}T1${k}:00:00Z`);
  }
  await workers.store.put(`raw/${dataset}/events/events.csv`, lines.join('\n'));
}

const TINY = { epochs: 1, hiddenDim: 16, maxLen: 8 };

describe('faults end in a clear outcome @integration', () => {
  it('a training queue that no worker polls fails the run by name after the configured wait', async () => {
    const { config, workers } = await testStack();
    const dataset = 'unpolled-queue';
    await uploadSmallStore(workers, dataset);
    const queue = `nobody-polls-${Date.now()}`;
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY, trainingTaskQueue: queue, training: { workerWaitSeconds: 5 } });
    assert.equal(run.status, 'failed');
    const error = run.status === 'failed' ? run.error : '';
    assert.match(error, new RegExp(`no training worker polled queue "${queue}" for 5 s`), error);
    assert.equal(run.status === 'failed' && run.progress?.steps.find((s) => s.name === 'train')?.status, 'failed');
  });

  it('with whenNoWorker "wait", the run keeps waiting and its progress says for what', async () => {
    const { config, workers } = await testStack();
    const dataset = 'unpolled-queue-wait';
    await uploadSmallStore(workers, dataset);
    const queue = `nobody-polls-${Date.now()}`;
    const handle = await startLifecycle(workers.client, config, { dataset, hyperparameters: TINY, trainingTaskQueue: queue, training: { workerWaitSeconds: 5, whenNoWorker: 'wait' } }, `wait-for-worker-${Date.now()}`, 'faults test');
    try {
      let label = '';
      for (let waited = 0; !label.includes('still waiting'); waited += 1000) {
        assert.ok(waited < 120_000, `the progress never said what it waits for (last: ${label})`);
        await sleep(1000);
        label = runningStepLabel(await handle.query(progressQuery));
      }
      assert.match(label, new RegExp(`^train: no training worker polled queue "${queue}" for \\d+ s`));
      assert.equal((await handle.describe()).status.name, 'RUNNING');
    } finally {
      await handle.terminate('test done');
    }
  });

  it('a configuration too big for the worker is refused before training, with its estimate, and not retried', async () => {
    const { config, workers } = await testStack();
    const dataset = 'oversized-config';
    await uploadSmallStore(workers, dataset);
    const started = Date.now();
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: { epochs: 1, hiddenDim: 512, maxLen: 200, batchSize: 4096, blocks: 4 } });
    assert.equal(run.status, 'failed');
    const error = run.status === 'failed' ? run.error : '';
    assert.match(error, /next-item with hyperparameters \{.*"batchSize":4096.*\} needs about [\d,]+ MiB to train, over the worker's [\d,]+ MiB/, error);
    assert.ok(Date.now() - started < 60_000, 'refused at once, not retried');
  });

  it('a CSV that is one 10 MB line fails its file at once, naming it and quoting none of it', async () => {
    const { config, workers } = await testStack();
    const dataset = 'one-long-line';
    await workers.store.put(`raw/${dataset}/events/export.csv`, 'user_id,' + 'x'.repeat(10 * 2 ** 20));
    const started = Date.now();
    const run = await runLifecycle(workers.client, config, { dataset });
    assert.equal(run.status, 'failed');
    const error = run.status === 'failed' ? run.error : '';
    assert.match(error, /raw\/one-long-line\/events\/export\.csv: the header is over 1,000,000 characters \(maxRecordChars\)/);
    assert.ok(error.length < 1000 && !error.includes('xxxxxxxxxx'), `no raw data in the failure (${error.length} characters)`);
    assert.ok(Date.now() - started < 60_000, 'failed fast, not retried');
  });

  it('two stack starts at once start each server once; stack down then stops exactly those', async () => {
    const { config } = await testStack();
    // A second local stack of our own, on its own ports and directory.
    const offset = 600;
    const local = { ...config.local, dataDir: mkdtempSync(path.join(os.tmpdir(), 'storeloop-twice-')), temporalPort: config.local.temporalPort + offset, temporalUiPort: config.local.temporalUiPort + offset, s3Port: config.local.s3Port + offset };
    const second: StoreloopConfig = {
      ...config,
      local,
      temporal: { ...config.temporal, address: `127.0.0.1:${local.temporalPort}` },
      s3: { ...config.s3, endpoint: `http://127.0.0.1:${local.s3Port}` },
    };
    try {
      const [a, b] = await Promise.all([stackUp(log, second), stackUp(log, second)]);
      for (const name of ['temporal', 's3']) {
        const states = [a, b].map((statuses) => statuses.find((s) => s.name === name)!);
        assert.deepEqual(states.map((s) => s.state).sort(), ['reused', 'started'], `${name}: ${JSON.stringify(states)}`);
        assert.equal(states[0].pid, states[1].pid, `${name}: both name the one process`);
        assert.equal(Number(readFileSync(path.join(local.dataDir, 'pids', `${name}.pid`), 'utf8')), states[0].pid, `${name}: the pid file records it`);
      }
    } finally {
      await stackDown(second);
    }
    assert.equal(await temporalHealthy(second).catch(() => false), false, 'no Temporal server left running');
    assert.equal(await s3Healthy(second).catch(() => false), false, 'no S3 gateway left running');
    assert.ok(!existsSync(path.join(local.dataDir, 'pids', 'temporal.pid')));
  });

  it('npm start restarts a training worker that dies under it, and still ends with its JSON summary', async () => {
    const { config, workers } = await testStack();
    // Its own queues, so only the CLI's own workers take its tasks.
    const queues = { STORELOOP_PIPELINE_QUEUE: `supervised-${process.pid}-pipeline`, STORELOOP_TRAINING_QUEUE: `supervised-${process.pid}-training` };
    const cli = spawn(process.execPath, ['--import', 'tsx', 'cli/storeloop.ts', 'run', '--kind', 'next-item', '--dataset', 'supervised', '--epochs', '2', '--json'], {
      cwd: PROJECT_ROOT,
      // Its own queues; and no metrics exporters, whose ports the test workers hold.
      env: { ...process.env, ...queues, STORELOOP_PIPELINE_METRICS_ADDRESS: '', STORELOOP_TRAINING_METRICS_ADDRESS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    try {
      // The CLI's training worker, found by its queue, killed once it polls.
      const trainingWorkerPid = async (): Promise<number | undefined> => {
        for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
          try {
            const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
            if (cmdline.includes('training-worker.ts') && readFileSync(`/proc/${entry}/environ`, 'utf8').includes(queues.STORELOOP_TRAINING_QUEUE)) return Number(entry);
          } catch {
            // The process ended while we looked.
          }
        }
        return undefined;
      };
      const polling = async () =>
        (await workers.client.workflowService.describeTaskQueue({ namespace: config.temporal.namespace, taskQueue: { name: queues.STORELOOP_TRAINING_QUEUE }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY })).pollers?.length ?? 0;
      let pid: number | undefined;
      for (let waited = 0; pid === undefined || (await polling()) === 0; waited += 500) {
        assert.ok(waited < 180_000, `the CLI's training worker never polled; stderr: ${stderr.slice(-2000)}`);
        await sleep(500);
        pid = await trainingWorkerPid();
      }
      process.kill(pid, 'SIGKILL');
      const code = await exited;
      const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { runs?: { status: string }[] };
      assert.equal(code, 0, stderr.slice(-2000));
      assert.equal(summary.runs?.[0]?.status, 'completed', stdout.slice(-2000));
      assert.match(readFileSync(path.join(config.local.dataDir, 'logs', 'pipeline-worker.log'), 'utf8'), /training worker killed by SIGKILL; starting it again \(1 of 3\)/);
    } finally {
      if (cli.exitCode === null) cli.kill('SIGKILL');
    }
  });
});
