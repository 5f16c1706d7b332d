/**
 * Workflow histories of real runs, for the replay test, as protobufjs JSON objects (enums by
 * name, bytes as base64; the SDK's historyToJSON fails on this protobufjs version). Every recorded history is kept for
 * the replay test of the same mocha run; with STORELOOP_RECORD_HISTORIES=1 it is also
 * written to test/fixtures/histories/, where CI replays it against every later change of the
 * workflow code. Re-record when a workflow change is meant to break old histories (and
 * version the workflow for runs still open in production).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../../infra/config';
import type { Client } from '@temporalio/client';

const History = temporal.api.history.v1.History;

export const HISTORY_FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'histories');

export const recordedThisRun: { name: string; workflowId: string; history: temporal.api.history.v1.IHistory }[] = [];

export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  recordedThisRun.push({ name, workflowId, history });
  if (process.env.STORELOOP_RECORD_HISTORIES === '1') {
    const json = History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
    writeFileSync(path.join(HISTORY_FIXTURES, `${name}.json`), `${JSON.stringify(json, null, 1)}\n`);
  }
}

export function readHistory(file: string): temporal.api.history.v1.IHistory {
  return History.fromObject(JSON.parse(readFileSync(file, 'utf8')));
}
