/**
 * The real local stack for integration tests, on its own ports and data directory so a
 * developer's running stack is untouched. Started with the same infra code as
 * `npm run stack:up`, stopped (by pid) after the last test; no mocks of Temporal or S3.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { loadConfig, PROJECT_ROOT, type StoreloopConfig } from '../../infra/config';
import { stackDown, stackUp } from '../../infra/local-stack';
import { createLogger } from '../../infra/logger';
import { installTemporalRuntime } from '../../workers/run-worker';
import { startLocalWorkers, type LocalWorkers } from '../../cli/local-run';

// Several checkouts (or people) may test on one machine at once: STORELOOP_TEST_PORT_BASE
// moves the whole stack, e.g. 27000 gives Temporal 27233, its UI 28233 and S3 27070.
const portBase = Number(process.env.STORELOOP_TEST_PORT_BASE ?? 17000);
if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 64000) {
  throw new Error(`STORELOOP_TEST_PORT_BASE must be an integer from 1024 to 64000, got "${process.env.STORELOOP_TEST_PORT_BASE}"`);
}

Object.assign(process.env, {
  STORELOOP_DATA_DIR: process.env.STORELOOP_TEST_DATA_DIR ?? path.join(PROJECT_ROOT, '.data', 'test-stack'),
  STORELOOP_TEMPORAL_PORT: String(portBase + 233),
  STORELOOP_TEMPORAL_UI_PORT: String(portBase + 1233),
  STORELOOP_S3_PORT: String(portBase + 70),
  // Both workers export Prometheus metrics, so a test can scrape them.
  STORELOOP_PIPELINE_METRICS_ADDRESS: `127.0.0.1:${portBase + 91}`,
  STORELOOP_TRAINING_METRICS_ADDRESS: `127.0.0.1:${portBase + 92}`,
  S3_BUCKET: `storeloop-test-${Date.now()}`,
  // Distinctive credentials, so a leak check cannot confuse them with ordinary words.
  S3_ACCESS_KEY_ID: `AKTEST${randomBytes(6).toString('hex').toUpperCase()}`,
  S3_SECRET_ACCESS_KEY: randomBytes(24).toString('base64url'),
  // Own task queues: workers of another test run or a developer's stack never take our tasks.
  STORELOOP_PIPELINE_QUEUE: `storeloop-test-${process.pid}-pipeline`,
  STORELOOP_TRAINING_QUEUE: `storeloop-test-${process.pid}-training`,
  TF_CPP_MIN_LOG_LEVEL: '2',
  STORELOOP_LOG_LEVEL: process.env.STORELOOP_LOG_LEVEL ?? 'warn',
});

export const log = createLogger('test');
let started: Promise<{ config: StoreloopConfig; workers: LocalWorkers }> | undefined;

export function testStack(): Promise<{ config: StoreloopConfig; workers: LocalWorkers }> {
  started ??= (async () => {
    installTemporalRuntime('pipeline');
    const config = loadConfig();
    await stackUp(log, config);
    const workers = await startLocalWorkers(config, log, path.join(config.local.dataDir, 'logs', 'training-worker-test.log'));
    return { config, workers };
  })();
  return started;
}

/** Mocha root hook: stop what the tests started. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    if (!started) return;
    const { workers } = await started;
    await workers.shutdown();
    await stackDown(loadConfig());
  },
};

/** The first `users` lines of a benchmark sequence file, written to a temp file. */
export function sliceOfSequences(file: string, users: number): string {
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(0, users);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'storeloop-slice-'));
  const out = path.join(dir, 'sequences.txt');
  writeFileSync(out, `${lines.join('\n')}\n`);
  return out;
}

