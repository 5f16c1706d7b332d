import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { testStack, log } from './test-stack';
import { dataConverterFromEnv } from '../../infra/payload-encryption';
import { createPipelineWorker } from '../../workers/workers';

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

  it('keeps a failure\'s message and stack, and the raw values they quote, out of the server history', async () => {
    const { config, workers } = await testStack();
    const key = randomBytes(32).toString('base64');
    const dataConverter = dataConverterFromEnv({ STORELOOP_PAYLOAD_KEY: key });
    const secret = `alice.${randomBytes(4).toString('hex')}@example.com`;
    const dataset = `encryption-failure-${Date.now()}`;
    // Every row's timestamp is an e-mail address: collect refuses the file, and its error quotes the value.
    const rows = Array.from({ length: 10 }, (_, i) => `u${i},i${i},click,${secret}`);
    await workers.store.put(`raw/${dataset}/events/bad.csv`, ['user_id,item_id,event_type,timestamp', ...rows].join('\n'));

    const taskQueue = `encryption-failure-${process.pid}`;
    const connection = await NativeConnection.connect({ address: config.temporal.address });
    const client = new Client({ connection: workers.client.connection, dataConverter });
    const plain = new Client({ connection: workers.client.connection });
    // The worker takes its data converter from the environment, as a deployed one does.
    const before = process.env.STORELOOP_PAYLOAD_KEY;
    process.env.STORELOOP_PAYLOAD_KEY = key;
    const worker = await createPipelineWorker(connection, { ...config, temporal: { ...config.temporal, pipelineTaskQueue: taskQueue } }, { store: workers.store, log, client }).finally(() => {
      if (before === undefined) delete process.env.STORELOOP_PAYLOAD_KEY;
      else process.env.STORELOOP_PAYLOAD_KEY = before;
    });
    try {
      await worker.runUntil(async () => {
        const handle = await client.workflow.start('modelLifecycle', { taskQueue, workflowId: `encryption-failure-${Date.now()}`, args: [{ dataset }] });
        // With the codec the failure reads as before: the file, the row's field, the reason.
        await assert.rejects(handle.result(), (e: Error) => {
          const messages: string[] = [];
          for (let cause: Error | undefined = e; cause; cause = (cause as Error & { cause?: Error }).cause) messages.push(cause.message);
          assert.match(messages.join(' | '), /bad\.csv.*10 of 10 rows are invalid.*timestamp/);
          return true;
        });
        // Without it, every failure in the history is encoded, and the raw value appears nowhere.
        const history = await plain.workflow.getHandle(handle.workflowId).fetchHistory();
        const failures = history.events!.flatMap((event) => [event.activityTaskFailedEventAttributes?.failure, event.workflowExecutionFailedEventAttributes?.failure]).filter((f) => f);
        assert.ok(failures.length >= 2, 'the activity and the workflow failed');
        for (let failure of failures) {
          for (; failure; failure = failure.cause) {
            assert.equal(failure.message, 'Encoded failure');
            assert.equal(failure.stackTrace ?? '', '');
            assert.equal(Buffer.from(failure.encodedAttributes!.metadata!.encoding!).toString(), 'binary/encrypted');
          }
        }
        const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
        assert.ok(!raw.includes(secret), 'the raw value is in the history');
        assert.ok(!raw.includes('rows are invalid'), 'the failure message is in the history');
      });
    } finally {
      await connection.close();
    }
  });
});
