import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { testStack } from './test-stack';
import { runLifecycle } from '../../cli/local-run';

describe('no credentials in logs or histories @integration', () => {
  it('keeps the S3 keys out of every workflow history, report and log file', async () => {
    const { config, workers } = await testStack();
    // At least one failed and whatever other runs this suite made before.
    await runLifecycle(workers.client, config, { dataset: 'secrets-probe' });
    const secrets = [config.s3.secretAccessKey, config.s3.accessKeyId];
    const histories: string[] = [];
    for await (const execution of workers.client.workflow.list()) {
      histories.push(JSON.stringify(await workers.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory()));
    }
    assert.ok(histories.length > 0);
    const reports = await workers.store.list('reports/');
    const texts = [
      ...histories,
      ...(await Promise.all(reports.map(async (r) => Buffer.from(await workers.store.getBytes(r.key)).toString()))),
      ...readdirSync(path.join(config.local.dataDir, 'logs')).map((f) => readFileSync(path.join(config.local.dataDir, 'logs', f), 'utf8')),
    ];
    for (const secret of secrets) {
      const leaks = texts.filter((t) => t.includes(secret) || t.includes(Buffer.from(secret).toString('base64')));
      assert.equal(leaks.length, 0, `a credential appears in ${leaks.length} history/report/log text(s)`);
    }
  });
});
