/**
 * Every address and credential storeloop uses, read from the environment with
 * defaults that point at the embedded local stack. The same workers therefore run
 * against a Temporal cluster / Temporal Cloud and AWS S3 (or MinIO, Ceph, R2) by
 * setting variables only. Secrets never leave this module in loggable form:
 * use `describeConfig` for anything printed.
 */
import path from 'node:path';
import { DEFAULT_PIPELINE_TASK_QUEUE, DEFAULT_TRAINING_TASK_QUEUE } from '../schemas/lifecycle-input';

export const PROJECT_ROOT = path.resolve(__dirname, '..');

export interface TemporalConfig {
  address: string;
  namespace: string;
  /** Temporal Cloud API key; enables TLS when set. */
  apiKey?: string;
  tls: boolean;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  uiUrl: string;
  pipelineTaskQueue: string;
  trainingTaskQueue: string;
}

export interface S3Config {
  endpoint?: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Path-style addressing: needed by local gateways, MinIO and Ceph. */
  forcePathStyle: boolean;
  /** How long a request keeps retrying an unreachable S3 before it fails with StorageUnavailableError (0: the SDK's own retries only). */
  outageToleranceSeconds: number;
}

export interface LocalStackConfig {
  dataDir: string;
  temporalPort: number;
  temporalUiPort: number;
  s3Port: number;
}

export interface StoreloopConfig {
  temporal: TemporalConfig;
  s3: S3Config;
  local: LocalStackConfig;
}

function env(name: string, fallback: string): string;
function env(name: string): string | undefined;
function env(name: string, fallback?: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function flag(name: string, fallback: boolean): boolean {
  const value = env(name);
  if (value === undefined) return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

function port(name: string, fallback: number): number {
  const value = Number(env(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0 || value > 65535) {
    throw new Error(`${name} must be a TCP port number, got "${env(name)}"`);
  }
  return value;
}

function seconds(name: string, fallback: number): number {
  const value = Number(env(name, String(fallback)));
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of seconds (0 or more), got "${env(name)}"`);
  return value;
}

/** `S3_ENDPOINT=aws` selects the SDK's own regional AWS endpoint. */
function s3Endpoint(value: string): string | undefined {
  return value === 'aws' ? undefined : value;
}

export function loadConfig(): StoreloopConfig {
  const local: LocalStackConfig = {
    dataDir: path.resolve(PROJECT_ROOT, env('STORELOOP_DATA_DIR', '.data')),
    temporalPort: port('STORELOOP_TEMPORAL_PORT', 7233),
    temporalUiPort: port('STORELOOP_TEMPORAL_UI_PORT', 8233),
    s3Port: port('STORELOOP_S3_PORT', 7070),
  };
  const apiKey = env('TEMPORAL_API_KEY');
  return {
    local,
    temporal: {
      address: env('TEMPORAL_ADDRESS', `127.0.0.1:${local.temporalPort}`),
      namespace: env('TEMPORAL_NAMESPACE', 'default'),
      apiKey,
      tls: flag('TEMPORAL_TLS', apiKey !== undefined),
      tlsCertPath: env('TEMPORAL_TLS_CERT'),
      tlsKeyPath: env('TEMPORAL_TLS_KEY'),
      uiUrl: env('TEMPORAL_UI_URL', `http://127.0.0.1:${local.temporalUiPort}`),
      pipelineTaskQueue: env('STORELOOP_PIPELINE_QUEUE', DEFAULT_PIPELINE_TASK_QUEUE),
      trainingTaskQueue: env('STORELOOP_TRAINING_QUEUE', DEFAULT_TRAINING_TASK_QUEUE),
    },
    s3: {
      endpoint: s3Endpoint(env('S3_ENDPOINT', env('AWS_ENDPOINT_URL') ?? `http://127.0.0.1:${local.s3Port}`)),
      region: env('S3_REGION', env('AWS_REGION', 'us-east-1')),
      bucket: env('S3_BUCKET', 'storeloop'),
      accessKeyId: env('S3_ACCESS_KEY_ID', env('AWS_ACCESS_KEY_ID', 'storeloop')),
      secretAccessKey: env('S3_SECRET_ACCESS_KEY', env('AWS_SECRET_ACCESS_KEY', 'storeloop-local-secret')),
      forcePathStyle: flag('S3_FORCE_PATH_STYLE', true),
      outageToleranceSeconds: seconds('STORELOOP_STORAGE_OUTAGE_SECONDS', 300),
    },
  };
}

/** A printable view of the configuration with every secret removed. */
export function describeConfig(config: StoreloopConfig): Record<string, unknown> {
  return {
    temporal: {
      address: config.temporal.address,
      namespace: config.temporal.namespace,
      tls: config.temporal.tls,
      apiKey: config.temporal.apiKey ? '(set)' : '(none)',
      pipelineTaskQueue: config.temporal.pipelineTaskQueue,
      trainingTaskQueue: config.temporal.trainingTaskQueue,
    },
    s3: {
      endpoint: config.s3.endpoint ?? '(AWS default)',
      region: config.s3.region,
      bucket: config.s3.bucket,
      forcePathStyle: config.s3.forcePathStyle,
    },
  };
}

/** True when the configuration points at the stack this project starts itself. */
export function usesLocalStack(config: StoreloopConfig): { temporal: boolean; s3: boolean } {
  return {
    temporal: config.temporal.address === `127.0.0.1:${config.local.temporalPort}`,
    s3: config.s3.endpoint === `http://127.0.0.1:${config.local.s3Port}`,
  };
}
