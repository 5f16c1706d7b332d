/**
 * `npm run console` / `storeloop console`: the web console on the workers' Temporal and S3
 * configuration. STORELOOP_CONSOLE_HOST / _PORT (default 127.0.0.1:8090) and
 * STORELOOP_CONSOLE_TOKEN (actions are refused without it). Stops on SIGINT/SIGTERM.
 */
import { once } from 'node:events';
import { loadConfig } from '../infra/config';
import { createLogger } from '../infra/logger';
import { ObjectStore } from '../activities/storage/object-store';
import { connectClient } from '../workers/temporal-connection';
import { startConsole } from './server';

export async function runConsole(): Promise<void> {
  const log = createLogger('console');
  const config = loadConfig();
  const client = await connectClient(config.temporal);
  const store = new ObjectStore(config.s3);
  const server = await startConsole({
    store,
    client,
    config,
    log,
    token: process.env.STORELOOP_CONSOLE_TOKEN || undefined,
    host: process.env.STORELOOP_CONSOLE_HOST ?? '127.0.0.1',
    port: Number(process.env.STORELOOP_CONSOLE_PORT ?? 8090),
  });
  console.log(`storeloop console: ${server.url}${process.env.STORELOOP_CONSOLE_TOKEN ? '' : ' (read-only: set STORELOOP_CONSOLE_TOKEN for actions)'}`);
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await server.close();
  await client.connection.close();
  store.client.destroy();
}

if (require.main === module) {
  runConsole().catch((error: unknown) => {
    console.error(`storeloop console: ${(error as Error).message}`);
    process.exit(1);
  });
}
