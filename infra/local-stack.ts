/**
 * The embedded local stack: the Temporal CLI dev server (SQLite file) and the Versity S3
 * Gateway over a directory, both built once from the Go module proxy at pinned versions
 * and cached, then started detached with their pids recorded so `stack down` stops exactly
 * what this project started. Starting is idempotent: a healthy stack is reused. Starting
 * and stopping hold a lock on the data directory, so two `npm start` at once never start
 * two servers (the second waits, then reuses what the first started).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import lockfile from 'proper-lockfile';
import { Connection } from '@temporalio/client';
import { ObjectStore } from '../activities/storage/object-store';
import { loadConfig, usesLocalStack, type StoreloopConfig } from './config';
import type { Logger } from 'pino';

interface GoBinary {
  name: string;
  module: string;
  version: string;
}

export const TEMPORAL_CLI: GoBinary = { name: 'temporal', module: 'github.com/temporalio/cli/cmd/temporal', version: 'v1.5.1' };
export const VERSITY_GATEWAY: GoBinary = { name: 'versitygw', module: 'github.com/versity/versitygw/cmd/versitygw', version: 'v1.8.0' };

interface Service {
  name: string;
  binary: GoBinary;
  args: string[];
  env?: Record<string, string>;
  healthy: () => Promise<boolean>;
}

function binaryCacheDir(): string {
  return process.env.STORELOOP_BIN_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'storeloop', 'bin');
}

/** Path of a pinned Go binary, built with `go install` into a per-version cache on first use. */
export function ensureGoBinary(binary: GoBinary, log: Logger): string {
  const dir = path.join(binaryCacheDir(), `${binary.name}-${binary.version}`);
  const file = path.join(dir, binary.name);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  log.info({ module: `${binary.module}@${binary.version}` }, `building ${binary.name} (first run only, a few minutes)`);
  execFileSync('go', ['install', `${binary.module}@${binary.version}`], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, GOBIN: dir, GOFLAGS: '-mod=mod' },
  });
  return file;
}

function pidFile(config: StoreloopConfig, name: string): string {
  return path.join(config.local.dataDir, 'pids', `${name}.pid`);
}

/** The pid of a process we started that is still that process (not a recycled pid). */
function runningPid(config: StoreloopConfig, service: Service): number | undefined {
  const file = pidFile(config, service.name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes(service.binary.name)) return pid;
  } catch {
    // The process is gone.
  }
  rmSync(file, { force: true });
  return undefined;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(300);
  }
  return false;
}

export async function temporalHealthy(config: StoreloopConfig): Promise<boolean> {
  const connection = await Connection.connect({ address: config.temporal.address, connectTimeout: 2000 });
  try {
    const response = await connection.healthService.check({});
    return response.status === 1; // SERVING
  } finally {
    await connection.close();
  }
}

export async function s3Healthy(config: StoreloopConfig): Promise<boolean> {
  const store = new ObjectStore(config.s3);
  try {
    await store.client.send(new ListBucketsCommand({}));
    return true;
  } finally {
    store.client.destroy();
  }
}

function services(config: StoreloopConfig): Service[] {
  const { dataDir, temporalPort, temporalUiPort, s3Port } = config.local;
  return [
    {
      name: 'temporal',
      binary: TEMPORAL_CLI,
      args: [
        'server', 'start-dev',
        '--db-filename', path.join(dataDir, 'temporal', 'temporal.db'),
        '--ip', '127.0.0.1',
        '--port', String(temporalPort),
        // The UI's Start Workflow form (retraining from the browser) needs no flag: the dev
        // server of Temporal CLI v1.5.1 builds UI 2.42.1's config with startWorkflowDisabled
        // and disableWriteActions false. test/integration/temporal-ui.test.ts checks
        // /api/v1/settings and starts a run through the form.
        '--ui-port', String(temporalUiPort),
        '--log-level', 'warn',
      ],
      healthy: () => temporalHealthy(config),
    },
    {
      name: 's3',
      binary: VERSITY_GATEWAY,
      args: ['--port', `127.0.0.1:${s3Port}`, '--quiet', 'posix', path.join(dataDir, 's3')],
      // Credentials go through the environment so they never show in `ps` output.
      env: { ROOT_ACCESS_KEY: config.s3.accessKeyId, ROOT_SECRET_KEY: config.s3.secretAccessKey },
      healthy: () => s3Healthy(config),
    },
  ];
}

export interface StackStatus {
  name: string;
  state: 'started' | 'reused' | 'external' | 'stopped' | 'not running';
  pid?: number;
}

async function startService(config: StoreloopConfig, service: Service, log: Logger): Promise<StackStatus> {
  const pid = runningPid(config, service);
  if (pid !== undefined && (await waitUntil(service.healthy, 30_000))) return { name: service.name, state: 'reused', pid };
  if (pid === undefined && (await service.healthy().catch(() => false))) {
    log.warn(`${service.name}: something not started by storeloop already answers on its port; using it`);
    return { name: service.name, state: 'external' };
  }
  const { dataDir } = config.local;
  for (const dir of ['pids', 'logs', 'temporal', 's3']) mkdirSync(path.join(dataDir, dir), { recursive: true });
  const binary = ensureGoBinary(service.binary, log);
  const logFd = openSync(path.join(dataDir, 'logs', `${service.name}.log`), 'a');
  const child = spawn(binary, service.args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...process.env, ...service.env },
  });
  child.unref();
  writeFileSync(pidFile(config, service.name), String(child.pid));
  if (!(await waitUntil(service.healthy, 90_000))) {
    throw new Error(`${service.name} did not become healthy in 90 s; see ${path.join(dataDir, 'logs', `${service.name}.log`)}`);
  }
  return { name: service.name, state: 'started', pid: child.pid };
}

/**
 * Runs `work` holding the stack's lock (`<dataDir>/stack.lock`, refreshed while held, stale
 * after 30 s without a refresh, so a killed holder does not block the next start). Waits up
 * to 15 minutes for another holder: the first start may be building the binaries.
 */
async function withStackLock<T>(config: StoreloopConfig, log: Logger | undefined, work: () => Promise<T>): Promise<T> {
  mkdirSync(config.local.dataDir, { recursive: true });
  const lockfilePath = path.join(config.local.dataDir, 'stack.lock');
  const release = await lockfile.lock(config.local.dataDir, {
    lockfilePath,
    stale: 30_000,
    retries: { retries: 900, factor: 1, minTimeout: 1000, maxTimeout: 1000 },
    onCompromised: (error) => log?.warn({ error: error.message }, 'local stack lock lost'),
  }).catch((error: Error & { code?: string }) => {
    throw new Error(`another storeloop process holds ${lockfilePath} (starting or stopping the stack) and did not release it in 15 minutes: ${error.message}`);
  });
  try {
    return await work();
  } finally {
    await release();
  }
}

/** Starts (or reuses) the local services the configuration points at, then creates the bucket. */
export async function stackUp(log: Logger, config: StoreloopConfig = loadConfig()): Promise<StackStatus[]> {
  const local = usesLocalStack(config);
  const wanted = services(config).filter((s) => (s.name === 'temporal' ? local.temporal : local.s3));
  const statuses = await withStackLock(config, log, () => Promise.all(wanted.map((s) => startService(config, s, log))));
  const store = new ObjectStore(config.s3);
  try {
    await store.ensureBucket();
  } finally {
    store.client.destroy();
  }
  return statuses;
}

async function stopService(config: StoreloopConfig, service: Service): Promise<StackStatus> {
  const pid = runningPid(config, service);
  if (pid === undefined) return { name: service.name, state: 'not running' };
  process.kill(pid, 'SIGTERM');
  const exited = await waitUntil(async () => runningPid(config, service) === undefined, 15_000);
  if (!exited) process.kill(pid, 'SIGKILL');
  rmSync(pidFile(config, service.name), { force: true });
  return { name: service.name, state: 'stopped', pid };
}

/** Stops exactly the processes this project started, by their recorded pids. */
export async function stackDown(config: StoreloopConfig = loadConfig()): Promise<StackStatus[]> {
  return withStackLock(config, undefined, async () => {
    const statuses: StackStatus[] = [];
    for (const service of services(config)) statuses.push(await stopService(config, service));
    return statuses;
  });
}

export type ServiceName = 'temporal' | 's3';

/**
 * Stops one service this project started, leaves it down for `downtimeMs`, and starts it
 * again on the same state (the Temporal SQLite file, the S3 directory): what an
 * operator's restart or a crash-looping host does to the pipeline, used by the
 * fault-injection tests.
 */
export async function restartService(name: ServiceName, log: Logger, config: StoreloopConfig = loadConfig(), downtimeMs = 0): Promise<StackStatus> {
  const service = services(config).find((s) => s.name === name)!;
  const stopped = await stopService(config, service);
  if (stopped.state !== 'stopped') throw new Error(`${name} was not started by storeloop, so it cannot be restarted here`);
  await sleep(downtimeMs);
  return startService(config, service, log);
}
