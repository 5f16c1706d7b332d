/** Shared entry point logic of the worker processes: connect, run until SIGINT/SIGTERM. */
import { Runtime, DefaultLogger, type Worker, type NativeConnection } from '@temporalio/worker';
import { loadConfig, describeConfig, type StoreloopConfig } from '../infra/config';
import { createLogger, type Logger } from '../infra/logger';
import { ObjectStore } from '../activities/storage/object-store';
import type { ActivityDeps } from '../activities';
import { connectClient, connectWorker } from './temporal-connection';

export function installTemporalRuntime(level: 'WARN' | 'INFO' = 'WARN'): void {
  Runtime.install({ logger: new DefaultLogger(level) });
}

export async function runWorkerProcess(
  name: string,
  create: (connection: NativeConnection, config: StoreloopConfig, deps: ActivityDeps) => Promise<Worker>,
): Promise<void> {
  installTemporalRuntime();
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
