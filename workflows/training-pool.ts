/**
 * Activities on the training pool's task queue, with a bounded wait for a worker. A task
 * that no worker starts within `training.workerWaitSeconds` (Temporal's schedule-to-start
 * timeout) is looked into: with no worker polling the queue (a typo in
 * `trainingTaskQueue`, a pool scaled to zero, every worker dead) the step fails with
 * `NoTrainingWorker`, or keeps waiting if `training.whenNoWorker` is "wait"; with workers
 * polling but all busy it keeps waiting. Either way the progress says what it waits for.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, proxyActivities, TimeoutFailure } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { Activities } from '../activities';
import type { LifecycleConfig } from '../schemas/lifecycle-input';
import { ACTIVITY_RETRY } from './retry';

const pipeline = proxyActivities<Activities>({ startToCloseTimeout: '1m', retry: ACTIVITY_RETRY });

type TrainingPoolConfig = Pick<LifecycleConfig, 'trainingTaskQueue' | 'training'>;

/**
 * The train and evaluate activities on the training queue. By default a cancelled run ends
 * only once training has stopped; `tryCancel` lets a caller (a search trial) end at once.
 */
export function trainingPoolActivities(config: TrainingPoolConfig, options: { maximumAttempts?: number; tryCancel?: boolean } = {}) {
  return proxyActivities<Activities>({
    taskQueue: config.trainingTaskQueue,
    startToCloseTimeout: '12h',
    scheduleToStartTimeout: `${config.training.workerWaitSeconds}s`,
    // A killed training worker is noticed after this long; the retry resumes from its checkpoint.
    heartbeatTimeout: `${config.training.heartbeatTimeoutSeconds}s`,
    // A cancelled run ends only once training has seen the cancellation (through its
    // heartbeats) and stopped, so no model keeps training behind the operator's back.
    cancellationType: options.tryCancel ? ActivityCancellationType.TRY_CANCEL : ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { ...ACTIVITY_RETRY, ...(options.maximumAttempts ? { maximumAttempts: options.maximumAttempts } : {}) },
  });
}

function isScheduleToStartTimeout(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType === TimeoutType.SCHEDULE_TO_START;
}

/**
 * Runs `call` (one activity on the training queue) until a worker has taken it. `onWait`
 * gets what the step is waiting for after each timeout, and null once it ends. A retried
 * call carries its checkpoint, so training resumes where it was.
 */
export async function onTrainingPool<T>(config: TrainingPoolConfig, call: () => Promise<T>, onWait: (waitingFor: string | null) => void): Promise<T> {
  const queue = config.trainingTaskQueue;
  for (let waitedSeconds = config.training.workerWaitSeconds; ; waitedSeconds += config.training.workerWaitSeconds) {
    try {
      const result = await call();
      onWait(null);
      return result;
    } catch (error) {
      if (!isScheduleToStartTimeout(error)) {
        onWait(null);
        throw error;
      }
      const polling = await pipeline.taskQueuePollers(queue);
      const waited = waitedSeconds >= 120 ? `${Math.round(waitedSeconds / 60)} minutes` : `${waitedSeconds} s`;
      if (polling?.pollers === 0) {
        const reason = `no training worker polled queue "${queue}" for ${waited}: start one on that queue, or fix trainingTaskQueue`;
        if (config.training.whenNoWorker === 'fail') throw ApplicationFailure.nonRetryable(reason, 'NoTrainingWorker');
        onWait(`${reason}; still waiting (training.whenNoWorker)`);
      } else {
        onWait(polling ? `waited ${waited} for a free training worker: ${polling.pollers} polling queue "${queue}", all busy` : `waited ${waited} for a training worker on queue "${queue}"`);
      }
    }
  }
}
