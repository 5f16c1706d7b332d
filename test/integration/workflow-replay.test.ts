/**
 * History replay: histories of real lifecycle runs (recorded in test/fixtures/histories/ by
 * the conformance suite with STORELOOP_RECORD_HISTORIES=1, and those recorded during this
 * run) are replayed with the Worker's replay API against the current workflow code. A
 * workflow change that would break runs in flight fails here instead of in production.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORY_FIXTURES, readHistory, recordedThisRun } from './history-fixtures';
import { dataConverterFromEnv } from '../../infra/payload-encryption';

const committed = () =>
  readdirSync(HISTORY_FIXTURES)
    .filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: f, workflowId: `replay-${f}`, history: readHistory(path.join(HISTORY_FIXTURES, f)) }));

async function replay(workflowsPath: string, histories: { name: string; workflowId: string; history: unknown }[]): Promise<Map<string, Error | undefined>> {
  const outcomes = new Map<string, Error | undefined>();
  const byId = new Map(histories.map((h) => [h.workflowId, h.name]));
  const results = Worker.runReplayHistories({ workflowsPath, dataConverter: dataConverterFromEnv() }, histories.map(({ workflowId, history }) => ({ workflowId, history: history as never })));
  for await (const result of results) outcomes.set(byId.get(result.workflowId)!, result.error);
  return outcomes;
}

describe('workflow history replay @integration', () => {
  it('replays every recorded lifecycle history against the current workflow code', async () => {
    const histories = [...committed(), ...recordedThisRun];
    assert.ok(committed().length >= 2, `recorded histories of at least two kinds are committed in ${HISTORY_FIXTURES}`);
    const outcomes = await replay(require.resolve('../../workflows'), histories);
    assert.equal(outcomes.size, histories.length);
    for (const [name, error] of outcomes) assert.equal(error, undefined, `${name}: ${error?.message}`);
  });

  it('fails a workflow change that reorders the steps of a recorded run', async () => {
    const outcomes = await replay(require.resolve('./fixtures/reordered-lifecycle'), committed());
    for (const [name, error] of outcomes) assert.ok(error, `${name} replayed against an incompatible workflow without an error`);
  });
});
