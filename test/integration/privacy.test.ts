/**
 * Customer privacy on the real stack: with STORELOOP_PSEUDONYM_KEY set, no user id of the
 * synthetic store is left in storage after a run (collect pseudonymised them and deleted the
 * raw files), serving still finds a user by the id the store knows, and `storeloop privacy
 * erase` removes one user from everything stored, after which serving and the next run work.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { testStack, log } from './test-stack';
import { seedDataset, TINY, storeloop } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { readTable } from '../../activities/storage/arrow-io';
import { collectSources } from '../../activities/collect/collect';
import { readVersionManifest } from '../../activities/registry/serving-registry';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { transactionRiskKind } from '../../activities/model-kinds/transaction-risk';
import { ensureSyntheticData } from '../../sources/import';
import { MODEL_KINDS } from '../../activities/model-kinds/registry';
import { ErasureBlockedError, eraseCustomer, objectsNaming, type ErasureResult } from '../../activities/privacy/erasure';
import { PSEUDONYM_KEY_ENV, Pseudonymiser, PseudonymKeyError, isPseudonym } from '../../activities/privacy/pseudonyms';
import { startServingServer } from '../../serving/server';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { LifecycleSummary } from '../../schemas/summary';

const SYNTHETIC_USERS = 400; // seedDataset's store: users U000001 .. U000400
const userIds = Array.from({ length: SYNTHETIC_USERS }, (_, i) => `U${String(i + 1).padStart(6, '0')}`);

describe('privacy: pseudonymised customer ids and erasure @integration', () => {
  const dataset = `privacy-${Date.now()}`;
  const model = `${dataset}-next-item`;
  const key = randomBytes(32).toString('base64url');
  const pseudonyms = new Pseudonymiser(key);
  // Other tests' datasets share the bucket (with the same synthetic ids, stored as given); the step cache is everyone's.
  const ofDataset = (objectKey: string) => objectKey.includes(dataset) || objectKey.startsWith('cache/');
  const keyBefore = process.env[PSEUDONYM_KEY_ENV];
  let store: ObjectStore;
  let first: LifecycleSummary;
  let trainedUsers: string[];

  before(async () => {
    // The pipeline worker runs in this process and reads the key when collect runs; the CLI child inherits it.
    process.env[PSEUDONYM_KEY_ENV] = key;
    const { config, workers } = await testStack();
    store = workers.store;
    await seedDataset(store, dataset);
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    first = run.summary;
    const manifest = await readVersionManifest(store, model, first.version!);
    const sequences = await readTable(store, store.keyOf(manifest.lineage.artifacts.sequences));
    trainedUsers = sequences.getChild('user_id')!.toArray() as string[];
  });

  after(() => {
    if (keyBefore === undefined) delete process.env[PSEUDONYM_KEY_ENV];
    else process.env[PSEUDONYM_KEY_ENV] = keyBefore;
  });

  it('stores no user id of the synthetic store: every id is a pseudonym and the raw files are gone', async () => {
    assert.deepEqual(first.data.privacy?.pseudonymised, ['events.user_id', 'events.session_id']);
    assert.deepEqual(first.data.privacy?.inTheClear, []);
    assert.equal(first.data.privacy?.rawFilesDeleted, 4);
    assert.deepEqual(await store.list(`raw/${dataset}/`), []);
    assert.ok(trainedUsers.length > 100 && trainedUsers.every(isPseudonym), 'sequences are keyed by pseudonyms');
    assert.deepEqual(await objectsNaming(store, userIds, ofDataset), []);
  });

  it('refuses to collect with another key, whose pseudonyms would not join', async () => {
    await store.put(`raw/${dataset}/events/late.csv`, 'user_id,item_id,event_type,timestamp\nU000001,I0001,view,2026-11-01T10:00:00Z\n');
    await assert.rejects(
      collectSources(store, log, { dataset, sources: nextItemKind.sources, maxBadRowFraction: 0, pseudonyms: new Pseudonymiser(randomBytes(32).toString('hex')) }),
      (error: Error) => error instanceof PseudonymKeyError && /was collected with pseudonym key [0-9a-f]{16}, but this worker has pseudonym key/.test(error.message),
    );
  });

  it('will not erase while a raw file holding the customer is not collected yet, and changes nothing', async () => {
    const before = await store.list(`datasets/${dataset}/`);
    await assert.rejects(eraseCustomer(store, log, { id: 'U000001', by: 'test', reason: 'test', kinds: [...MODEL_KINDS.values()], pseudonyms, dataset }), ErasureBlockedError);
    assert.deepEqual(await store.list(`datasets/${dataset}/`), before);
    await store.delete(`raw/${dataset}/events/late.csv`);
  });

  it('serves a user by the id the store knows and logs their feedback under the pseudonym; erasure then removes them from everything stored', async () => {
    const user = userIds.find((id) => trainedUsers.includes(pseudonyms.of(id)))!;
    const pseudonym = pseudonyms.of(user);
    const server = await startServingServer({ model, store, pseudonyms, log });
    try {
      const answer = (await (await fetch(`${server.url}/recommendations?user=${user}&k=5`)).json()) as { strategy: string; user: string };
      assert.equal(answer.strategy, 'model', 'found by pseudonym: the user has a history');
      assert.equal(answer.user, user);
      const feedback = await fetch(`${server.url}/feedback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'click', user, item: 'I0001' }) });
      assert.equal(feedback.status, 202);
    } finally {
      await server.close();
    }
    const logged = await store.list(`feedback/${model}/`);
    assert.ok(logged.length > 0);
    assert.deepEqual(await objectsNaming(store, [user], ofDataset), [], 'serving logged no clear id');
    assert.ok((await objectsNaming(store, [pseudonym], ofDataset)).some((k) => k.startsWith(`feedback/${model}/`)), 'feedback is logged under the pseudonym');

    const erased = await storeloop('privacy', 'erase', '--user', user, '--dataset', dataset, '--by', 'dpo', '--reason', 'GDPR article 17 request', '--json');
    assert.equal(erased.code, 0, erased.stderr);
    const result = erased.json<ErasureResult>();
    assert.deepEqual(result.residual, []);
    const areas = new Set(result.rewritten.map((r) => r.key.split('/')[0]));
    for (const area of ['datasets', 'artifacts', 'feedback']) assert.ok(areas.has(area), `rows removed from ${area}/: ${JSON.stringify(result.rewritten)}`);
    assert.ok(result.staleCacheEntries.length > 0, 'the preprocess cache entry built from the erased rows is dropped');
    // Nothing of the user is stored: not the id, not the pseudonym, not even in the audit record.
    assert.deepEqual(await objectsNaming(store, [user, pseudonym], ofDataset), []);
    const auditText = Buffer.from(await store.getBytes(result.audit)).toString('utf8');
    assert.ok(!auditText.includes(user) && !auditText.includes(pseudonym), auditText);
    const audit = JSON.parse(auditText) as { by: string; subject: string };
    assert.equal(audit.by, 'dpo');
    assert.match(audit.subject, /^sha256:[0-9a-f]{32}$/);

    // The erased version still loads from its rewritten artifacts, and no longer knows the user.
    // (Its impressions go elsewhere: this request names the user again.)
    const after = await startServingServer({ model, store, pseudonyms, log, feedbackPrefix: `test-feedback/after-erasure-${Date.now()}/` });
    try {
      const answer = (await (await fetch(`${after.url}/recommendations?user=${user}&k=5`)).json()) as { strategy: string };
      assert.equal(answer.strategy, 'popular');
    } finally {
      await after.close();
    }

    // The next run rebuilds what was derived from the erased rows, one user fewer.
    const { config, workers } = await testStack();
    const rerun = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(rerun.status, 'completed', rerun.status === 'failed' ? rerun.error : '');
    assert.equal(rerun.summary.steps.find((s) => s.name === 'preprocess')?.status, 'completed');
    assert.equal(rerun.summary.data.stats.users, first.data.stats.users - 1);
    assert.deepEqual(await objectsNaming(store, [user, pseudonym], ofDataset), []);

  });

  it('erases a card customer with their transactions, fraud labels and feature rows (linked by transaction id)', async () => {
    const riskDataset = `${dataset}-risk`;
    const { config, workers } = await testStack();
    assert.ok(await ensureSyntheticData(store, riskDataset, transactionRiskKind));
    const run = await runLifecycle(workers.client, config, { kind: transactionRiskKind.name, dataset: riskDataset });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    assert.deepEqual(run.summary.data.privacy?.pseudonymised, ['transactions.customer_id']);
    assert.deepEqual(await store.list(`raw/${riskDataset}/transactions/`), []);

    const tables = async () => {
      const out = [];
      for (const o of (await store.list('')).filter((o) => o.key.includes(riskDataset) && o.key.endsWith('.arrow'))) out.push({ key: o.key, table: await readTable(store, o.key) });
      return out;
    };
    // A customer with a chargeback, so a fraud label is among their linked rows.
    const labelled = new Set<string>();
    const customerOf = new Map<string, string>();
    for (const { key, table } of await tables()) {
      const ids = table.getChild('transaction_id')!;
      if (key.startsWith(`datasets/${riskDataset}/labels/`)) for (let i = 0; i < table.numRows; i++) labelled.add(ids.get(i) as string);
      if (key.startsWith(`datasets/${riskDataset}/transactions/`)) for (let i = 0; i < table.numRows; i++) customerOf.set(ids.get(i) as string, table.getChild('customer_id')!.get(i) as string);
    }
    const pseudonym = customerOf.get([...labelled][0])!;
    const customer = Array.from({ length: 100_000 }, (_, i) => String(i)).find((id) => pseudonyms.of(id) === pseudonym)!;
    const transactions = new Set([...customerOf].filter(([, c]) => c === pseudonym).map(([t]) => t));
    assert.ok(transactions.size > 10, `customer ${customer} has transactions (${transactions.size})`);

    const result = await eraseCustomer(store, log, { id: customer, by: 'test', reason: 'test', kinds: [...MODEL_KINDS.values()], pseudonyms, dataset: riskDataset });
    assert.deepEqual(result.residual, []);
    const rewritten = result.rewritten.map((r) => r.key);
    for (const prefix of [`datasets/${riskDataset}/transactions/`, `datasets/${riskDataset}/labels/`, `artifacts/${riskDataset}/transaction-risk/features/`, `artifacts/${riskDataset}/transaction-risk/online-state/`]) {
      assert.ok(rewritten.some((k) => k.startsWith(prefix)), `${prefix} rewritten: ${rewritten.join(', ')}`);
    }
    for (const { key, table } of await tables()) {
      const ids = table.getChild('transaction_id');
      if (!ids) continue;
      for (let i = 0; i < table.numRows; i++) assert.ok(!transactions.has(ids.get(i) as string), `${key} still holds transaction ${ids.get(i)}`);
    }
  });
});
