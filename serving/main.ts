/**
 * `npm run serve -- --model store-next-item` (or store-transaction-risk): the serving host as its own process.
 * Options fall back to environment variables (see the README's Serving section). SIGTERM or
 * SIGINT closes it gracefully: no new requests, in-flight ones finish, feedback is flushed.
 */
import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../infra/logger';
import { SERVING_DEFAULTS, startServingServer } from './server';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of at least 0');
  return n;
}

const env = (name: string) => process.env[name] || undefined;

const program = new Command('serve')
  .description('serve the champion of a model over HTTP (its kind, from the name, picks the routes)')
  .option('--model <name>', 'model to serve, <dataset>-<kind> (env STORELOOP_SERVE_MODEL)', env('STORELOOP_SERVE_MODEL') ?? 'store-next-item')
  .option('--host <host>', 'address to listen on (env STORELOOP_SERVE_HOST)', env('STORELOOP_SERVE_HOST') ?? SERVING_DEFAULTS.host)
  .option('--port <n>', 'port (env STORELOOP_SERVE_PORT)', positiveInt, Number(env('STORELOOP_SERVE_PORT') ?? SERVING_DEFAULTS.port))
  .option('--poll-ms <n>', 'champion alias poll interval (env STORELOOP_SERVE_POLL_MS)', positiveInt, Number(env('STORELOOP_SERVE_POLL_MS') ?? SERVING_DEFAULTS.pollIntervalMs))
  .option('--feedback-batch <rows>', 'rows per feedback file (env STORELOOP_FEEDBACK_BATCH_ROWS)', positiveInt, Number(env('STORELOOP_FEEDBACK_BATCH_ROWS') ?? SERVING_DEFAULTS.feedback.batchRows))
  .option('--feedback-flush-ms <n>', 'longest a feedback row waits before it is written (env STORELOOP_FEEDBACK_FLUSH_MS)', positiveInt, Number(env('STORELOOP_FEEDBACK_FLUSH_MS') ?? SERVING_DEFAULTS.feedback.flushIntervalMs))
  .option('--feedback-capacity <rows>', 'unwritten feedback rows held before requests wait (env STORELOOP_FEEDBACK_CAPACITY_ROWS)', positiveInt, Number(env('STORELOOP_FEEDBACK_CAPACITY_ROWS') ?? SERVING_DEFAULTS.feedback.capacityRows))
  .option('--max-batch <n>', 'most concurrent requests scored in one model call, 1 to score each alone (env STORELOOP_SERVE_MAX_BATCH)', positiveInt, Number(env('STORELOOP_SERVE_MAX_BATCH') ?? SERVING_DEFAULTS.maxScoringBatch))
  .option('--batch-window-ms <ms>', 'longest a request waits for others to share its model call (env STORELOOP_SERVE_BATCH_WINDOW_MS)', nonNegative, Number(env('STORELOOP_SERVE_BATCH_WINDOW_MS') ?? SERVING_DEFAULTS.batchWindowMs))
  .option('--feedback-prefix <prefix>', 'S3 prefix for feedback files, ending in "/" (default feedback/<model>/, where the feedback step reads)')
  .action(async (options: { model: string; host: string; port: number; pollMs: number; feedbackBatch: number; feedbackFlushMs: number; feedbackCapacity: number; maxBatch: number; batchWindowMs: number; feedbackPrefix?: string }) => {
    const log = createLogger('serving');
    const server = await startServingServer({
      model: options.model,
      host: options.host,
      port: options.port,
      pollIntervalMs: options.pollMs,
      feedback: { batchRows: options.feedbackBatch, flushIntervalMs: options.feedbackFlushMs, capacityRows: options.feedbackCapacity },
      feedbackPrefix: options.feedbackPrefix,
      maxScoringBatch: options.maxBatch,
      batchWindowMs: options.batchWindowMs,
      log,
    });
    let closing: Promise<void> | undefined;
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      closing ??= server.close().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });

program.parseAsync().catch((error: unknown) => {
  process.stderr.write(`storeloop serve: ${(error as Error).message}\n`);
  process.exit(1);
});
