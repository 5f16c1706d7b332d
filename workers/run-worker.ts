/** Shared entry point logic of the worker processes: connect, run until SIGINT/SIGTERM. */
import { Runtime, DefaultLogger, type Worker, type NativeConnection } from '@temporalio/worker';
import { loadConfig, describeConfig, type StoreloopConfig } from '../infra/config';
import { createLogger, type Logger } from '../infra/logger';
import { ObjectStore } from '../activities/storage/object-store';
import type { ActivityDeps } from '../activities';
import { STEP_DURATION_BUCKETS_SECONDS, STEP_DURATION_METRIC } from '../activities/progress';
import { connectClient, connectWorker } from './temporal-connection';

/** Which worker a process hosts, for its Prometheus address (the CLI's local run hosts the pipeline worker). */
export type WorkerRole = 'pipeline' | 'training';

/**
 * The Temporal SDK's runtime, once per process. With STORELOOP_<ROLE>_METRICS_ADDRESS
 * (e.g. `0.0.0.0:9464`) it serves Prometheus metrics at `/metrics` on that address: the
 * SDK's own (task latencies, slots, polls, activity and workflow outcomes) and storeloop's
 * step metrics, which activities record through the same meter (activities/progress.ts).
 */
export function installTemporalRuntime(role: WorkerRole, level: 'WARN' | 'INFO' = 'WARN'): void {
  const bindAddress = process.env[`STORELOOP_${role.toUpperCase()}_METRICS_ADDRESS`];
  Runtime.install({
    logger: new DefaultLogger(level),
    ...(bindAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true, histogramBucketOverrides: { [STEP_DURATION_METRIC]: STEP_DURATION_BUCKETS_SECONDS } } } } } : {}),
  });
}

export async function runWorkerProcess(
  role: WorkerRole,
  create: (connection: NativeConnection, config: StoreloopConfig, deps: ActivityDeps) => Promise<Worker>,
): Promise<void> {
  installTemporalRuntime(role);
  const name = `${role}-worker`;
  const log: Logger = createLogger(name);
  const config = loadConfig();
  log.info({ config: describeConfig(config) }, `${name} starting`);
  const connection = await connectWorker(config.temporal);
  const client = await connectClient(config.temporal);
  const worker = await create(connection, config, { store: new ObjectStore(config.s3), log, client });
  await worker.run(); // Runtime shuts the worker down gracefully on SIGINT/SIGTERM
  await connection.close();
  await client.connection.close();
}
