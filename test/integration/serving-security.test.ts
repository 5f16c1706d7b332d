/**
 * Who may change what on a serving host, on the real stack: writes need the bearer token (or
 * loopback when none is configured), feedback floods get 429s, and one bogus purchase cannot
 * raise an online-metric alarm (and so no retrain), while a real drop still does.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { testStack, log } from './test-stack';
import { seedDataset, TINY, eventually } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { createActivities } from '../../activities';
import { readTable } from '../../activities/storage/arrow-io';
import { applyAliasChange, planPromotion, readVersionManifest, versionPrefix } from '../../activities/registry/serving-registry';
import { datasetFromTables } from '../../activities/model-kinds/next-item/sequences';
import { startServingServer, type ServingServer } from '../../serving/server';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { StepContext } from '../../schemas/steps';

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

async function recommend(server: ServingServer, user: string): Promise<{ request_id: string; version: string; items: { item_id: string }[] }> {
  const response = await fetch(`${server.url}/recommendations?user=${encodeURIComponent(user)}&k=5`);
  assert.equal(response.status, 200);
  return (await response.json()) as { request_id: string; version: string; items: { item_id: string }[] };
}

async function metric(url: string, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(label));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** An address of this machine that is not loopback, if it has one. */
const outsideAddress = Object.values(os.networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

describe('serving: who may change what @integration', () => {
  const dataset = `security-${Date.now()}`;
  const model = `${dataset}-next-item`;
  let store: ObjectStore;
  let champion = '';
  let users: string[] = [];
  const elsewhere = `test-feedback/${dataset}/`;

  before(async () => {
    const { config, workers } = await testStack();
    store = workers.store;
    await seedDataset(store, dataset);
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    champion = run.summary.version!;
    const manifest = await readVersionManifest(store, model, champion);
    const data = datasetFromTables(await readTable(store, `${versionPrefix(model, champion)}/${manifest.lineage.servingArtifacts.vocabulary}`), await readTable(store, store.keyOf(manifest.lineage.artifacts.sequences)));
    users = data.userIds;
  });

  it('refuses feedback without the bearer token (401) and, with no token configured, from any address but loopback (403); scoring stays open', async () => {
    const token = randomBytes(24).toString('base64url');
    const guarded = await startServingServer({ model, store, host: '0.0.0.0', writeTokens: [token], feedbackPrefix: elsewhere, log });
    const open = await startServingServer({ model, store, host: '0.0.0.0', feedbackPrefix: elsewhere, log });
    const click = { type: 'click', user: users[0], item: 'any' };
    try {
      const at = (server: ServingServer, address = '127.0.0.1') => server.url.replace('0.0.0.0', address);
      const anonymous = await post(`${at(guarded)}/feedback`, click);
      assert.equal(anonymous.status, 401, JSON.stringify(anonymous.body));
      assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await post(`${at(guarded)}/feedback`, click, { authorization: `Bearer ${token}x` })).status, 401);
      assert.equal((await post(`${at(guarded)}/feedback`, click, { authorization: `Basic ${token}` })).status, 401);
      assert.equal((await post(`${at(guarded)}/feedback`, click, { authorization: `Bearer ${token}` })).status, 202);
      // Scoring is a read: no token needed.
      assert.equal((await post(`${at(guarded)}/recommendations`, { items: ['no-such-item'], k: 3 })).status, 200);
      assert.equal(await metric(at(guarded), 'storeloop_serving_writes_refused_total', 'reason="unauthenticated"'), 3);

      assert.equal((await post(`${at(open)}/feedback`, click)).status, 202, 'loopback may write when no token is configured');
      if (outsideAddress) {
        const remote = await post(`${at(open, outsideAddress)}/feedback`, click);
        assert.equal(remote.status, 403, JSON.stringify(remote.body));
        assert.match(String(remote.body.error), /STORELOOP_SERVING_WRITE_TOKEN/);
        assert.equal((await post(`${at(guarded, outsideAddress)}/feedback`, click, { authorization: `Bearer ${token}` })).status, 202, 'the token works from anywhere');
      } else {
        log.warn('no non-loopback address on this machine: the 403 from another host is not checked');
      }
      // The authenticated clicks, and the three impressions of the scoring request.
      assert.equal(guarded.feedbackStats().bufferedRows + guarded.feedbackStats().writtenRows, (outsideAddress ? 2 : 1) + 3, 'only authenticated events were logged');
    } finally {
      await guarded.close();
      await open.close();
    }
  });

  it('answers a feedback flood with 429 and Retry-After, per user and per client, and logs none of the refused events', async () => {
    const server = await startServingServer({ model, store, feedbackPrefix: elsewhere, feedbackLimits: { perUser: { burst: 5, perSecond: 0.01 }, perClient: { burst: 20, perSecond: 0.01 } }, log });
    try {
      const url = `${server.url}/feedback`;
      const clicks = (user: string, n: number) => Array.from({ length: n }, (_, i) => ({ type: 'click', user, item: `item-${i}` }));
      assert.equal((await post(url, clicks(users[0], 5))).status, 202);
      const userFlood = await post(url, clicks(users[0], 1));
      assert.equal(userFlood.status, 429, JSON.stringify(userFlood.body));
      assert.ok(Number(userFlood.headers.get('retry-after')) >= 1);
      assert.match(String(userFlood.body.error), /this user/);
      // Other users still get through, until the client's own bucket is empty (the refused event counted against it too).
      for (let i = 1; i <= 14; i++) assert.equal((await post(url, clicks(users[i], 1))).status, 202, `event ${i}`);
      const clientFlood = await post(url, clicks(users[15], 1));
      assert.equal(clientFlood.status, 429);
      assert.match(String(clientFlood.body.error), /this client/);
      assert.equal(await metric(server.url, 'storeloop_serving_feedback_rate_limited_events_total', 'scope="user"'), 1);
      assert.equal(await metric(server.url, 'storeloop_serving_feedback_rate_limited_events_total', 'scope="client"'), 1);
      assert.equal(server.feedbackStats().bufferedRows + server.feedbackStats().writtenRows, 19);
    } finally {
      await server.close();
    }
  });

  it('raises no alarm (so starts no retrain) from one bogus purchase, and still does from a real drop', async () => {
    const next = `${champion}-copy`;
    const manifest = await readVersionManifest(store, model, champion);
    for (const file of ['model.json', 'weights.bin', ...Object.values(manifest.lineage.servingArtifacts)]) {
      await store.put(`${versionPrefix(model, next)}/${file}`, await store.getBytes(`${versionPrefix(model, champion)}/${file}`));
    }
    await store.put(`${versionPrefix(model, next)}/manifest.json`, JSON.stringify({ ...manifest, version: next }), 'application/json');

    const server = await startServingServer({ model, store, pollIntervalMs: 200, feedback: { flushIntervalMs: 100 }, log });
    const activities = createActivities({ store, log });
    const measure = async () => {
      await eventually('feedback written', async () => (server.feedbackStats().bufferedRows === 0 ? true : undefined), 30_000);
      const ctx: StepContext = { config: parseLifecycleInput({ dataset }), workflowId: `security-feedback-${Date.now()}`, runId: 'r', startedAt: new Date(Date.now() + 60_000).toISOString() };
      return activities.feedback(ctx, await activities.preprocess(ctx, await activities.collect(ctx)));
    };
    try {
      // 250 known users served by each version (the default minRequests is 200, minUsers 50); nobody buys anything.
      const served = users.slice(0, 250);
      assert.equal(served.length, 250, 'the seeded dataset has at least 250 users');
      const lists: ({ user: string } & Awaited<ReturnType<typeof recommend>>)[] = [];
      for (const user of served) lists.push({ user, ...(await recommend(server, user)) });
      await applyAliasChange(store, await planPromotion(store, model, next, { by: 'security-test', reason: 'a second version' }));
      await eventually('the swap', async () => (server.version() === next ? true : undefined), 30_000);
      for (const user of served) assert.equal((await recommend(server, user)).version, next);

      // One purchase of an item the first version showed: its hit rate is 1/250, the second's 0.
      const buy = (list: (typeof lists)[number]) => post(`${server.url}/feedback`, { type: 'purchase', user: list.user, item: list.items[0].item_id, request_id: list.request_id });
      assert.equal((await buy(lists[0])).status, 202);
      const bogus = await measure();
      assert.equal(bogus.perVersion[champion].metrics.hits, 1, JSON.stringify(bogus.perVersion));
      assert.deepEqual(bogus.alarms, [], 'one purchase raised an alarm');

      // Sixty users buying from the first version's lists and none from the second's is a real drop.
      for (const list of lists.slice(1, 60)) assert.equal((await buy(list)).status, 202);
      const real = await measure();
      assert.equal(real.perVersion[champion].metrics.hits, 60);
      assert.equal(real.alarms.length, 1, JSON.stringify(real.alarms));
      assert.match(real.alarms[0], /hit rate of .* is 100% worse than/);
    } finally {
      await server.close();
    }
  });
});
