import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as tf from '@tensorflow/tfjs';
import { testStack, log } from './test-stack';
import { seedDataset, TINY, eventually } from './ops-fixtures';
import { dashboardMetricNames } from './grafana-dashboard';
import { runLifecycle } from '../../cli/local-run';
import { PROJECT_ROOT, type StoreloopConfig } from '../../infra/config';
import { stackDown, stackUp } from '../../infra/local-stack';
import { readTable } from '../../activities/storage/arrow-io';
import { applyAliasChange, planPromotion, readVersionManifest, versionPrefix } from '../../activities/registry/serving-registry';
import { datasetFromTables } from '../../activities/model-kinds/next-item/sequences';
import { loadModelBundle } from '../../activities/storage/model-bundles';
import { FEEDBACK_SCHEMA, FeedbackRow, type FeedbackEvent } from '../../schemas/feedback';
import { modelFromBundle } from '../../activities/model-kinds/next-item/serving';
import { startServingServer, type ServingServer } from '../../serving/server';
import { FeedbackLog, feedbackPrefix, type FeedbackRecord } from '../../serving/feedback-log';
import { ObjectStore } from '../../activities/storage/object-store';

interface RecommendationResponse {
  request_id: string;
  model: string;
  version: string;
  strategy: 'model' | 'popular';
  path: 'precomputed' | 'online';
  items: { item_id: string; score: number }[];
  ignored_items?: string[];
}

async function call(url: string, init?: { method?: string; body?: unknown; raw?: string }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, {
    method: init?.method ?? 'GET',
    headers: init?.body !== undefined || init?.raw !== undefined ? { 'content-type': 'application/json' } : undefined,
    body: init?.raw ?? (init?.body === undefined ? undefined : JSON.stringify(init.body)),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

/** Every feedback row of a model, read and validated as the feedback step reads them. */
async function feedbackRows(store: ObjectStore, model: string): Promise<FeedbackEvent[]> {
  const rows: FeedbackEvent[] = [];
  for (const object of await store.list(feedbackPrefix(model))) {
    assert.match(object.key, new RegExp(`^feedback/${model}/date=\\d{4}-\\d{2}-\\d{2}/[0-9a-f]{64}\\.arrow$`));
    for (const row of await readTable(store, object.key)) rows.push(FeedbackRow.parse(row.toJSON()));
  }
  return rows;
}

/** Another version: a published version's files under a new id (and model), as an operator could publish. */
async function publishCopy(store: ObjectStore, model: string, from: string, to: string, fromModel = model): Promise<void> {
  const manifest = await readVersionManifest(store, fromModel, from);
  for (const file of ['model.json', 'weights.bin', ...Object.values(manifest.lineage.servingArtifacts)]) {
    await store.put(`${versionPrefix(model, to)}/${file}`, await store.getBytes(`${versionPrefix(fromModel, from)}/${file}`));
  }
  await store.put(`${versionPrefix(model, to)}/manifest.json`, JSON.stringify({ ...manifest, model, version: to }), 'application/json');
}

describe('serving the champion recommender @integration', () => {
  const dataset = `serve-${Date.now()}`;
  const model = `${dataset}-next-item`;
  let store: ObjectStore;
  let server: ServingServer;
  let champion = '';
  let knownUser = '';
  let knownHistory: string[] = [];
  let itemIds: string[] = [];

  before(async () => {
    const { config, workers } = await testStack();
    store = workers.store;
    await seedDataset(store, dataset);
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    assert.equal(run.summary.promoted, true, run.summary.reasons.join('; '));
    champion = run.summary.version!;

    const manifest = await readVersionManifest(store, model, champion);
    const data = datasetFromTables(await readTable(store, `${versionPrefix(model, champion)}/${manifest.lineage.servingArtifacts.vocabulary}`), await readTable(store, store.keyOf(manifest.lineage.artifacts.sequences)));
    itemIds = data.itemIds;
    const longest = data.sequences.reduce((best, s, i) => (s.length > data.sequences[best].length ? i : best), 0);
    knownUser = data.userIds[longest];
    knownHistory = Array.from(data.sequences[longest], (index) => itemIds[index - 1]);

    server = await startServingServer({ model, store, pollIntervalMs: 200, feedback: { batchRows: 40, flushIntervalMs: 60_000, capacityRows: 100 }, log });
  });

  after(async () => {
    await server?.close();
  });

  it('recommends the model\'s top items for a known user, without items the user has seen, with version and request id', async () => {
    const { status, body, headers } = await call(`${server.url}/recommendations?user=${encodeURIComponent(knownUser)}&k=5`);
    assert.equal(status, 200, JSON.stringify(body));
    const answer = body as unknown as RecommendationResponse;
    assert.equal(answer.version, champion);
    assert.equal(answer.model, model);
    assert.equal(headers.get('x-model-version'), champion);
    assert.match(answer.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(headers.get('x-request-id'), answer.request_id);
    assert.equal(answer.strategy, 'model');
    assert.equal(answer.path, 'precomputed', 'a known user without new events is answered from what deploy computed');

    // The same ranking computed here straight from the published bundle.
    const bundle = await loadModelBundle(store, `${versionPrefix(model, champion)}/model.json`, 'next-item');
    const net = modelFromBundle(bundle.config, bundle.tensors);
    const indexOf = new Map(itemIds.map((id, i) => [id, i + 1]));
    const history = Int32Array.from(knownHistory, (id) => indexOf.get(id)!);
    const scores = await net.scoreNext([history.subarray(Math.max(0, history.length - net.config.maxLen))]);
    net.dispose();
    const expected = itemIds
      .map((id, i) => ({ id, score: scores[i + 1] }))
      .filter((c) => !knownHistory.includes(c.id))
      .sort((a, b) => b.score - a.score)
      .slice(0, 5);
    assert.deepEqual(answer.items.map((i) => i.item_id), expected.map((c) => c.id));
    for (const item of answer.items) assert.ok(!knownHistory.includes(item.item_id));
  });

  it('answers an anonymous session from its item sequence, and a user without history with popular items', async () => {
    const session = itemIds.slice(0, 3);
    const posted = await call(`${server.url}/recommendations`, { method: 'POST', body: { items: [...session, 'no-such-item'], k: 10, session: 's-1' } });
    assert.equal(posted.status, 200, JSON.stringify(posted.body));
    const answer = posted.body as unknown as RecommendationResponse;
    assert.equal(answer.version, champion);
    assert.equal(answer.items.length, 10);
    assert.deepEqual(answer.ignored_items, ['no-such-item']);
    for (const item of answer.items) assert.ok(!session.includes(item.item_id));

    const stranger = (await call(`${server.url}/recommendations?user=nobody-knows-me&k=3`)).body as unknown as RecommendationResponse;
    assert.equal(stranger.strategy, 'popular');
    assert.equal(stranger.items.length, 3);
    assert.ok(stranger.items[0].score >= stranger.items[2].score);
  });

  it('rejects invalid requests with a 400 that names the field', async () => {
    const cases: [string, Parameters<typeof call>[1], string][] = [
      ['/recommendations', undefined, 'user'],
      [`/recommendations?user=${knownUser}&k=0`, undefined, 'k'],
      [`/recommendations?user=${knownUser}&k=many`, undefined, 'k'],
      [`/recommendations?user=${knownUser}&k=101`, undefined, 'k'],
      [`/recommendations?user=${knownUser}&colour=red`, undefined, 'colour'],
      [`/recommendations?user=${knownUser}&timestamp=yesterday`, undefined, 'timestamp'],
      ['/recommendations', { method: 'POST', body: { items: [] } }, 'items'],
      ['/recommendations', { method: 'POST', body: { items: 'abc' } }, 'items'],
      ['/recommendations', { method: 'POST', body: { items: ['a', ''] } }, 'items[1]'],
      ['/feedback', { method: 'POST', body: { type: 'like', user: 'u', item: 'i' } }, 'type'],
      ['/feedback', { method: 'POST', body: { type: 'click', item: 'i' } }, 'user'],
      ['/feedback', { method: 'POST', body: [{ type: 'click', user: 'u', item: 'i' }, { type: 'click', user: 'u' }] }, '[1].item'],
      ['/feedback', { method: 'POST', body: { type: 'click', user: 'u', item: 'i', position: -1 } }, 'position'],
    ];
    for (const [url, init, field] of cases) {
      const { status, body, headers } = await call(`${server.url}${url}`, init);
      assert.equal(status, 400, `${url} ${JSON.stringify(init?.body)}: ${JSON.stringify(body)}`);
      assert.equal(headers.get('x-model-version'), champion);
      assert.equal(body.field, field, JSON.stringify(body));
      assert.match(String(body.error), new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}: `));
      assert.match(String(body.request_id), /^[0-9a-f-]{36}$/);
    }
    const malformed = await call(`${server.url}/feedback`, { method: 'POST', raw: '{"type": "click",' });
    assert.equal(malformed.status, 400);
    const missing = await call(`${server.url}/nowhere`);
    assert.equal(missing.status, 404);
    assert.match(String(missing.body.request_id), /^[0-9a-f-]{36}$/);
  });

  it('takes feedback events, credits them to the serving version, and excludes clicked items next time', async () => {
    const first = (await call(`${server.url}/recommendations?user=${knownUser}&k=5`)).body as unknown as RecommendationResponse;
    const clicked = first.items[2].item_id;
    const accepted = await call(`${server.url}/feedback`, { method: 'POST', body: { type: 'click', user: knownUser, item: clicked, request_id: first.request_id, position: 2 } });
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    assert.equal(accepted.body.accepted, 1);
    const batch = await call(`${server.url}/feedback`, { method: 'POST', body: [{ type: 'add_to_cart', user: knownUser, item: clicked }, { type: 'purchase', user: knownUser, item: clicked, timestamp: '2026-11-02T10:00:00Z' }] });
    assert.equal(batch.body.accepted, 2);
    const next = (await call(`${server.url}/recommendations?user=${knownUser}&k=5`)).body as unknown as RecommendationResponse;
    assert.equal(next.path, 'online', 'a user with new events is scored online');
    assert.ok(!next.items.some((i) => i.item_id === clicked), 'the clicked item is now part of the history');
  });

  it('exposes Prometheus metrics per route, status and version, the feedback buffer and the live version, and they count', async () => {
    const scrape = async () => {
      const response = await fetch(`${server.url}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
      return response.text();
    };
    /** The value of one series, found by its name and a subset of its labels. */
    const value = (text: string, name: string, labels: Record<string, string>): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const ok = { route: '/recommendations', method: 'GET', status: '200', version: champion, model };
    const before = await scrape();
    for (let i = 0; i < 3; i++) await call(`${server.url}/recommendations?user=${encodeURIComponent(knownUser)}&k=3`);
    await call(`${server.url}/recommendations?user=${encodeURIComponent(knownUser)}&k=0`);
    const after = await scrape();

    assert.equal(value(after, 'storeloop_serving_requests_total', ok) - value(before, 'storeloop_serving_requests_total', ok), 3);
    assert.equal(value(after, 'storeloop_serving_requests_total', { ...ok, status: '400' }) - value(before, 'storeloop_serving_requests_total', { ...ok, status: '400' }), 1);
    assert.equal(value(after, 'storeloop_serving_request_duration_seconds_count', ok) - value(before, 'storeloop_serving_request_duration_seconds_count', ok), 3);
    assert.ok(value(after, 'storeloop_serving_request_duration_seconds_bucket', { ...ok, le: '+Inf' }) >= 3);
    assert.equal(value(after, 'storeloop_serving_model_info', { version: champion, kind: 'next-item' }), 1);
    assert.ok(value(after, 'storeloop_serving_model_load_seconds', { model }) > 0);
    assert.equal(value(after, 'storeloop_serving_feedback_capacity_rows', { model }), 100);
    for (const name of ['storeloop_serving_feedback_buffered_rows', 'storeloop_serving_feedback_write_failures_total', 'storeloop_serving_champion_poll_failures_total', 'storeloop_serving_process_resident_memory_bytes']) {
      assert.match(after, new RegExp(`^${name}\\{`, 'm'), `${name} is exposed`);
    }
    assert.ok(!after.includes('route="/metrics"'), 'scrapes are not counted as traffic');
    for (const name of dashboardMetricNames().filter((n) => n.startsWith('storeloop_serving_'))) {
      assert.match(after, new RegExp(`^${name}[{ ]`, 'm'), `the dashboard queries ${name}, which serving does not export`);
    }
  });

  it('answers 503 until a model has its first champion, then serves it without a restart', async () => {
    const newcomer = `${dataset}-later-next-item`;
    const waiting = await startServingServer({ model: newcomer, store, pollIntervalMs: 200, log });
    try {
      const ready = await call(`${waiting.url}/ready`);
      assert.equal(ready.status, 503);
      assert.equal(ready.body.status, 'loading');
      assert.equal((await call(`${waiting.url}/health`)).status, 200);
      const early = await call(`${waiting.url}/recommendations?user=${knownUser}`);
      assert.equal(early.status, 503);
      // The 503 says why and what to do about it.
      assert.match(String(early.body.error), new RegExp(`${newcomer} has no champion loaded: no serving/${newcomer}/champion.json: nothing has been promoted .*storeloop models promote ${newcomer} <version>`));
      assert.match(String(ready.body.lastError), /nothing has been promoted/);

      await publishCopy(store, newcomer, champion, champion, model);
      await applyAliasChange(store, await planPromotion(store, newcomer, champion, { by: 'serving-test', reason: 'first' }));
      await eventually('the first champion', async () => ((await call(`${waiting.url}/ready`)).status === 200 ? true : undefined), 10_000);
      const answer = await call(`${waiting.url}/recommendations?user=${knownUser}`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.version, champion);
    } finally {
      await waiting.close();
    }
  });

  it('hot-swaps to a newly promoted version within seconds, with no failed request meanwhile', async () => {
    const next = `${champion}-b`;
    await publishCopy(store, model, champion, next);
    const seen: string[] = [];
    const failures: string[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const response = await call(`${server.url}/recommendations?user=${knownUser}&k=10`).catch((error: Error) => ({ status: 0, body: { error: error.message } as Record<string, unknown> }));
        if (response.status !== 200) failures.push(`${response.status} ${JSON.stringify(response.body)}`);
        else seen.push(String(response.body.version));
      }
    };
    const bytesBefore = tf.memory().numBytes;
    const clients = Array.from({ length: 4 }, client);
    await eventually('a few requests on the old version', async () => (seen.length >= 20 ? true : undefined), 30_000);
    const promotedAt = Date.now();
    await applyAliasChange(store, await planPromotion(store, model, next, { by: 'serving-test', reason: 'hot swap' }));
    await eventually('responses from the new version', async () => (seen.at(-1) === next ? true : undefined), 10_000);
    const switchSeconds = (Date.now() - promotedAt) / 1000;
    const before = seen.length;
    await eventually('more requests on the new version', async () => (seen.length >= before + 20 ? true : undefined), 30_000);
    stop = true;
    await Promise.all(clients);

    assert.deepEqual(failures, []);
    const firstNew = seen.indexOf(next);
    assert.ok(seen.slice(0, firstNew).every((v) => v === champion));
    // Requests already scoring on the old version may finish after the first new answer, never later than that.
    assert.ok(seen.slice(firstNew + 4).every((v) => v === next), 'no request goes back to the old version');
    assert.ok(switchSeconds < 5, `switched after ${switchSeconds} s`);
    assert.equal(server.version(), next);
    // Two versions in memory would hold the weights twice; the models' small cached masks may differ.
    const weights = (await store.head(`${versionPrefix(model, champion)}/weights.bin`))!.size;
    const grown = tf.memory().numBytes - bytesBefore;
    assert.ok(grown < weights / 2, `memory grew by ${grown} bytes with ${weights} bytes of weights: the old version was not disposed`);
  });

  it('keeps serving the current version when the promoted one cannot be loaded, and says why on /ready', async () => {
    const serving = server.version()!;
    const broken = `${champion}-broken`;
    const manifest = await readVersionManifest(store, model, champion);
    await store.put(`${versionPrefix(model, broken)}/manifest.json`, JSON.stringify({ ...manifest, version: broken }), 'application/json');
    await applyAliasChange(store, await planPromotion(store, model, broken, { by: 'serving-test', reason: 'no weights' }));
    const ready = await eventually('the failed load to show', async () => {
      const r = await call(`${server.url}/ready`);
      return r.body.lastError ? r : undefined;
    }, 10_000);
    assert.equal(ready.status, 200);
    assert.equal(ready.body.version, serving);
    assert.match(String(ready.body.lastError), new RegExp(`^cannot load ${model} ${broken}: .*does not exist`));
    const answer = await call(`${server.url}/recommendations?user=${knownUser}`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.version, serving);

    // The operator fixes it by promoting a good version; the service follows at once.
    await applyAliasChange(store, await planPromotion(store, model, champion, { by: 'serving-test', reason: 'back to a good one' }));
    await eventually('the good version', async () => (server.version() === champion ? true : undefined), 10_000);
    assert.equal((await call(`${server.url}/ready`)).body.lastError, null);
  });

  it('writes every impression and event to S3 as Arrow when closed, in batches bounded by the buffer', async () => {
    // Load enough rows that the 100-row buffer must flush, and wait, while requests keep coming.
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => call(`${server.url}/recommendations?user=u${i}&k=7`).then((r) => r.body as unknown as RecommendationResponse)),
    );
    for (const a of answers) assert.equal(a.items.length, 7);
    assert.ok(server.feedbackStats().writtenRows > 0, 'size-triggered flushes happened before close');
    assert.ok(server.feedbackStats().bufferedRows <= 100);
    await server.close();

    const stats = server.feedbackStats();
    assert.equal(stats.bufferedRows, 0);
    const rows = await feedbackRows(store, model);
    assert.equal(rows.length, stats.writtenRows);
    const byType = (type: string) => rows.filter((r) => r.type === type);
    assert.equal(byType('click').length, 1);
    assert.equal(byType('add_to_cart').length, 1);
    assert.equal(byType('purchase').length, 1);
    // Every served list is there, one row per shown item with its position.
    for (const a of answers) {
      const shown = rows.filter((r) => r.request_id === a.request_id).sort((x, y) => x.position! - y.position!);
      assert.deepEqual(shown.map((r) => [r.type, r.item_id, r.position, r.model_version, r.user_id.startsWith('u')]), a.items.map((item, position) => ['impression', item.item_id, position, a.version, true]));
    }
    const click = byType('click')[0];
    assert.equal(click.position, 2);
    assert.equal(click.model_version, champion, 'credited to the version that served the list');
    assert.ok(rows.some((r) => r.type === 'purchase' && r.timestamp === Date.parse('2026-11-02T10:00:00Z')));
    assert.ok((await store.list(`${feedbackPrefix(model)}date=2026-11-02/`)).length === 1, 'events are partitioned by their own date');
  });

  it('`npm run serve` on SIGTERM finishes the requests in flight, flushes everything it buffered and exits 0', async () => {
    const before = (await feedbackRows(store, model)).length;
    const port = 19000 + 500 + (process.pid % 400);
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'serving', 'main.ts'), '--model', model, '--port', String(port), '--feedback-flush-ms', '600000', '--feedback-batch', '5000'], {
      cwd: PROJECT_ROOT,
      env: process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    try {
      await eventually('the service to be ready', async () => ((await fetch(`${url}/ready`)).status === 200 ? true : undefined), 60_000);
      let sent = 0;
      for (let i = 0; i < 10; i++) {
        const answer = (await call(`${url}/recommendations?user=${knownUser}&k=4`)).body as unknown as RecommendationResponse;
        sent += answer.items.length;
      }
      sent += Number((await call(`${url}/feedback`, { method: 'POST', body: { type: 'click', user: knownUser, item: itemIds[0] } })).body.accepted);
      assert.equal((await feedbackRows(store, model)).length, before, 'nothing written before the signal');

      // The signal arrives while requests are in flight, and with a client connected that has sent
      // nothing yet: accepted requests finish and are logged, later ones are turned away, the idle socket is dropped.
      const exited = once(child, 'exit');
      const idle = connect(port, '127.0.0.1');
      idle.on('error', () => undefined);
      await once(idle, 'connect');
      const inFlight = Array.from({ length: 20 }, () => call(`${url}/recommendations?user=${knownUser}&k=4`).catch(() => ({ status: 0, body: {} as Record<string, unknown> })));
      await sleep(50);
      const signalled = Date.now();
      child.kill('SIGTERM');
      const answers = await Promise.all(inFlight);
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      assert.ok(Date.now() - signalled < 10_000, `exited ${Date.now() - signalled} ms after the signal`);
      const served = answers.filter((a) => a.status === 200);
      assert.ok(served.length > 0, 'requests in flight at the signal were answered');
      assert.deepEqual(answers.filter((a) => ![0, 200, 503].includes(a.status)), [], 'refused or 503 while closing, never an error');
      sent += served.length * 4;
      assert.equal((await feedbackRows(store, model)).length, before + sent);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('feedback buffer when S3 is down @integration', () => {
  it('makes callers wait instead of dropping rows, retries the same batch, and on close writes every accepted row once S3 is back', async () => {
    const { config } = await testStack();
    // A second S3 gateway of our own, not started yet: the buffer's store is unreachable.
    const s3Port = config.local.s3Port + 500;
    const outage: StoreloopConfig = {
      ...config,
      local: { ...config.local, dataDir: mkdtempSync(path.join(os.tmpdir(), 'storeloop-outage-')), s3Port },
      s3: { ...config.s3, endpoint: `http://127.0.0.1:${s3Port}` },
      temporal: { ...config.temporal, address: 'not-local:7233' }, // stackUp starts only S3
    };
    // As the serving host's own store: no riding out the outage, so the buffer sees the failed writes.
    const store = new ObjectStore({ ...outage.s3, outageToleranceSeconds: 0 });
    const prefix = 'feedback/outage-test/';
    const buffer = new FeedbackLog({ store, schema: FEEDBACK_SCHEMA, prefix, batchRows: 10, capacityRows: 20, flushIntervalMs: 100, maxRetryDelayMs: 300, log });
    const rows = (from: number): FeedbackRecord[] =>
      Array.from({ length: 10 }, (_, i) => ({ type: 'impression', model_version: 'v1', user_id: `u${from + i}`, item_id: 'i1', request_id: `r${from}`, position: i, timestamp: Date.parse('2026-11-20T12:00:00Z') }));
    try {
      await buffer.append(rows(0));
      await buffer.append(rows(10));
      let thirdIn = false;
      const third = buffer.append(rows(20)).then(() => (thirdIn = true));
      await eventually('failed writes', async () => (buffer.snapshot().failedWrites >= 2 ? true : undefined), 20_000);
      assert.equal(thirdIn, false, 'a full buffer holds the caller back');
      assert.equal(buffer.snapshot().bufferedRows, 20);

      // Closing while S3 is still down and a caller still waits: nothing new gets in, nothing accepted is lost.
      const closed = buffer.close();
      await assert.rejects(buffer.append(rows(30)), /closed/);
      await stackUp(log, outage);
      await Promise.all([third, closed]);
      assert.deepEqual({ ...buffer.snapshot(), failedWrites: 0 }, { bufferedRows: 0, capacityRows: 20, writtenRows: 30, writtenFiles: 3, failedWrites: 0 });
      const written = await feedbackRows(store, 'outage-test');
      assert.deepEqual(written.map((r) => r.user_id).sort(), Array.from({ length: 30 }, (_, i) => `u${i}`).sort());
    } finally {
      await stackDown(outage);
      store.client.destroy();
    }
  });
});
