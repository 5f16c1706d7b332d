import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { testStack } from './test-stack';
import { dataConverterFromEnv } from '../../infra/payload-encryption';

describe('payload encryption on the real Temporal server @integration', () => {
  it('keeps workflow input out of the server history in plaintext', async () => {
    const { config } = await testStack();
    const dataConverter = dataConverterFromEnv({ STORELOOP_PAYLOAD_KEY: randomBytes(32).toString('base64') });
    const taskQueue = `encryption-test-${process.pid}`;
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    const worker = await Worker.create({ connection, taskQueue, workflowsPath: require.resolve('../../workflows'), dataConverter });
    const client = new Client({ connection: (await testStack()).workers.client.connection, dataConverter });
    const plain = new Client({ connection: (await testStack()).workers.client.connection });
    try {
      await worker.runUntil(async () => {
        // Invalid on purpose: the workflow decodes the input (proving the worker can) and fails fast.
        const handle = await client.workflow.start('modelLifecycle', {
          taskQueue,
          workflowId: `encryption-probe-${Date.now()}`,
          args: [{ dataset: 'encryption-probe', maxBadRowFraction: 2 }],
        });
        await assert.rejects(handle.result(), (e: Error) => e instanceof WorkflowFailedError && /maxBadRowFraction/.test(e.cause?.message ?? ''));
        const history = await plain.workflow.getHandle(handle.workflowId).fetchHistory();
        const [stored] = history.events![0].workflowExecutionStartedEventAttributes!.input!.payloads!;
        assert.equal(Buffer.from(stored.metadata!.encoding!).toString(), 'binary/encrypted');
        assert.ok(!Buffer.from(stored.data!).includes('encryption-probe'), 'plaintext input in history');
      });
    } finally {
      await connection.close();
    }
  });
});
