/**
 * What the operations commands (schedule, models, runs) share: a Temporal client or the
 * object store from configuration, output as tables for people or one JSON document for
 * scripts (`--json`), the operator's name for audit records, and errors that say what to do.
 */
import os from 'node:os';
import { InvalidArgumentError } from 'commander';
import { ScheduleNotFoundError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { loadConfig, type StoreloopConfig } from '../infra/config';
import { connectClient } from '../workers/temporal-connection';
import { ObjectStore } from '../activities/storage/object-store';
import { formatRecords, type Cell } from '../infra/text-table';

export interface JsonOption {
  json?: boolean;
}

/** Prints `data` as one JSON line with --json, else runs the human printer. */
export function output(options: JsonOption, data: unknown, human: () => void): void {
  if (options.json) process.stdout.write(`${JSON.stringify(data)}\n`);
  else human();
}

export function table(rows: Record<string, Cell>[]): void {
  console.log(formatRecords(rows));
}

export async function withTemporal<T>(work: (client: Client, config: StoreloopConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  let client: Client;
  try {
    client = await connectClient(config.temporal);
  } catch (error) {
    throw new Error(`cannot reach Temporal at ${config.temporal.address} (${(error as Error).message}); start the local stack with \`npm run stack:up\` or set TEMPORAL_ADDRESS`);
  }
  try {
    return await work(client, config);
  } finally {
    await client.connection.close();
  }
}

export async function withStore<T>(work: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = new ObjectStore(loadConfig().s3);
  try {
    return await work(store);
  } finally {
    store.client.destroy();
  }
}

/** Who is at the keyboard, for promotion and approval records. */
export function defaultOperator(): string {
  return process.env.STORELOOP_OPERATOR ?? os.userInfo().username;
}

export function jsonObject(value: string): Record<string, unknown> {
  try {
    const parsed = JSON.parse(value) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new InvalidArgumentError(`must be a JSON object (${(error as Error).message})`);
  }
}

export function duration(value: string): string {
  if (!/^[1-9][0-9]*(s|m|h|d)$/.test(value)) throw new InvalidArgumentError('must be a duration such as "90s", "30m", "12h" or "1d"');
  return value;
}

/** An ISO date (a whole UTC day) or date-time. */
export function instant(value: string): Date {
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError('must be an ISO date (2026-03-01) or date-time (2026-03-01T02:00:00Z)');
  return date;
}

/** The message a person needs, for the errors operators meet. */
export function explain(error: unknown): string {
  if (error instanceof ScheduleNotFoundError) return `no schedule ${error.scheduleId}; create it with \`storeloop schedule create <model>\``;
  if (error instanceof WorkflowNotFoundError) return `no workflow ${error.workflowId} in this namespace`;
  if (error instanceof WorkflowUpdateFailedError) return `refused: ${error.cause?.message ?? error.message}`;
  return (error as Error).message;
}
