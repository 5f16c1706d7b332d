/**
 * The two worker kinds. The pipeline worker runs the workflows and the CPU activities;
 * the training worker runs the model activities on the GPU pool's task queue, with one
 * concurrent activity per GPU (1 without), after choosing its TensorFlow.js backend.
 */
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createActivities, TRAINING_ACTIVITIES, type ActivityDeps } from '../activities';
import { gpuCount, selectBackend } from '../ml/backend';
import type { StoreloopConfig } from '../infra/config';
import { dataConverterFromEnv } from '../infra/payload-encryption';

function pick<T extends object>(all: T, include: (name: string) => boolean): Partial<T> {
  return Object.fromEntries(Object.entries(all).filter(([name]) => include(name))) as Partial<T>;
}

const isTrainingActivity = (name: string) => (TRAINING_ACTIVITIES as readonly string[]).includes(name);

export async function createPipelineWorker(connection: NativeConnection, config: StoreloopConfig, deps: ActivityDeps): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.pipelineTaskQueue,
    workflowsPath: require.resolve('../workflows'),
    dataConverter: dataConverterFromEnv(),
    activities: pick(createActivities(deps), (name) => !isTrainingActivity(name)),
  });
}

export async function createTrainingWorker(connection: NativeConnection, config: StoreloopConfig, deps: ActivityDeps): Promise<Worker> {
  const backend = await selectBackend(deps.log);
  const concurrency = Math.max(1, backend.name === 'tensorflow-gpu' ? gpuCount() : 1);
  deps.log.info({ backend: backend.name, concurrency, taskQueue: config.temporal.trainingTaskQueue }, 'training worker ready');
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.trainingTaskQueue,
    activities: pick(createActivities(deps), isTrainingActivity),
    maxConcurrentActivityTaskExecutions: concurrency,
    // Training learns of a cancellation only from a heartbeat's reply: send one at least
    // every 5 s (not 0.8 x the heartbeat timeout), so a cancelled run stops training promptly.
    maxHeartbeatThrottleInterval: '5s',
    dataConverter: dataConverterFromEnv(),
  });
}
