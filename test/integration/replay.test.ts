/**
 * The learning loop end to end on the real stack: a synthetic store's last days are
 * replayed as traffic against the served champion (a client asks for recommendations
 * before each of a user's true next items and clicks when that item is shown), the
 * store's event log grows by one day at a time, and a nightly lifecycle with that day's
 * cut-off follows each day. The feedback step must count exactly what the client did,
 * and the loop must get better online as it learns.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { testStack, log } from './test-stack';
import { eventually } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { rawPrefix } from '../../activities/collect/collect';
import { runReportPrefix } from '../../activities/run-report';
import { eventsToCsv, generateSyntheticStore } from '../../activities/model-kinds/next-item/synthetic';
import { startServingServer, type ServingServer } from '../../serving/server';
import type { LifecycleInputFields } from '../../schemas/lifecycle-input';
import type { LifecycleSummary } from '../../workflows/lifecycle';
import type { RawEvent } from '../../schemas/events';
import type { ObjectStore } from '../../activities/storage/object-store';

const DAY_MS = 86_400_000;
const STORE = { seed: 21, users: 600, items: 150, categories: 8, days: 24, endDate: '2026-11-01' };
const REPLAYED_DAYS = 3;
const K = 10;
// The first champion is deliberately undertrained (two epochs), so the loop has something to learn.
const FIRST_NIGHT: LifecycleInputFields['hyperparameters'] = { epochs: 2, patience: 2, hiddenDim: 32, maxLen: 20, blocks: 1, learningRate: 0.01, dropout: 0.1, batchSize: 64, validationUsers: 300 };
const TRAINED: LifecycleInputFields['hyperparameters'] = { epochs: 10, patience: 10, hiddenDim: 32, maxLen: 20, blocks: 1, learningRate: 0.005, batchSize: 64, validationUsers: 300 };
const SEARCH = { enabled: true, trials: 3, eta: 3, minEpochs: 2, maxEpochs: 6, space: { learningRate: { choices: [0.002, 0.005, 0.01] }, dropout: { choices: [0.1, 0.3] } } };
// Few requests and users per simulated day: alarms need less evidence than the production default.
// The replay's own tally credits a click to a list of the same or the previous day: the longest credit window.
const FEEDBACK = { minRequests: 20, minUsers: 5, creditWindowHours: 48, retrainOnAlarm: false };

interface Tally {
  requests: number;
  impressions: number;
  /** Clicks credited to a list of this version: the item was shown, then or later in the visit. */
  clicks: number;
  /** Lists that got at least one credited click. */
  hits: number;
  /** Requests whose very next item was on the list; the same for the K most popular items. */
  nextItemShown: number;
  nextItemPopular: number;
  /** Clicks on items no earlier list of the user showed. */
  unattributed: number;
}

const newTally = (): Tally => ({ requests: 0, impressions: 0, clicks: 0, hits: 0, nextItemShown: 0, nextItemPopular: 0, unattributed: 0 });
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

interface ServedList {
  version: string;
  day: string;
  items: Set<string>;
  clicked: Set<string>;
}

/** Each user's items of the day in order, repeats in a row (view, add_to_cart, purchase) collapsed, as preprocessing does. */
function userJourneys(events: RawEvent[]): { user: string; steps: { item: string; at: number }[] }[] {
  const journeys = new Map<string, { item: string; at: number }[]>();
  for (const e of events) {
    const steps = journeys.get(e.user_id) ?? [];
    if (steps[steps.length - 1]?.item !== e.item_id) steps.push({ item: e.item_id, at: e.timestamp });
    journeys.set(e.user_id, steps);
  }
  return [...journeys].map(([user, steps]) => ({ user, steps }));
}

/**
 * What a popularity list would show a user: the most interacted items so far, without the
 * items the user already had, which the server never recommends either.
 */
function popularityLists(events: RawEvent[]): (known: Set<string>) => Set<string> {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(e.item_id, (counts.get(e.item_id) ?? 0) + 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([item]) => item);
  return (known) => new Set(ranked.filter((item) => !known.has(item)).slice(0, K));
}

function itemsByUser(events: RawEvent[]): Map<string, Set<string>> {
  const known = new Map<string, Set<string>>();
  for (const e of events) known.set(e.user_id, (known.get(e.user_id) ?? new Set()).add(e.item_id));
  return known;
}

async function post(server: ServingServer, path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/**
 * One day of traffic. Before each of a user's true next items the client asks for a list;
 * it clicks the item from the list when it is there, and otherwise goes to it anyway and
 * reports that click without a request id, as a storefront reports every click (this also
 * keeps the server's view of the user's history current). Alongside, it keeps the counts
 * the feedback step must arrive at: a click without request id is credited to the user's
 * latest earlier list (today or yesterday) that showed the item.
 */
interface ReplayState {
  /** Lists served per user, to credit clicks without request id as the feedback step will. */
  lists: Map<string, ServedList[]>;
  /** Items each user has had so far. */
  known: Map<string, Set<string>>;
  popular: (known: Set<string>) => Set<string>;
}

async function replayDay(server: ServingServer, day: string, events: RawEvent[], state: ReplayState, tallies: Map<string, Tally>): Promise<void> {
  const tally = (version: string) => tallies.get(version) ?? tallies.set(version, newTally()).get(version)!;
  const yesterday = dayOf(Date.parse(day) - DAY_MS);
  for (const { user, steps } of userJourneys(events)) {
    const ofUser = (state.lists.get(user) ?? []).filter((l) => l.day === day || l.day === yesterday);
    state.lists.set(user, ofUser);
    const known = state.known.get(user) ?? new Set<string>();
    state.known.set(user, known);
    for (const { item, at } of steps) {
      const response = await fetch(`${server.url}/recommendations?user=${encodeURIComponent(user)}&k=${K}&timestamp=${at - 1000}`);
      assert.equal(response.status, 200, await response.clone().text());
      const served = (await response.json()) as { request_id: string; version: string; items: { item_id: string }[] };
      const t = tally(served.version);
      t.requests++;
      t.impressions += served.items.length;
      if (state.popular(known).has(item)) t.nextItemPopular++;
      known.add(item);
      const list: ServedList = { version: served.version, day, items: new Set(served.items.map((i) => i.item_id)), clicked: new Set() };
      ofUser.push(list);
      const position = served.items.findIndex((i) => i.item_id === item);
      if (position >= 0) t.nextItemShown++;
      const click = position >= 0 ? { request_id: served.request_id, position } : {};
      assert.equal((await post(server, '/feedback', { type: 'click', user, item, timestamp: at, ...click })).status, 202);
      const credited = position >= 0 ? list : [...ofUser].reverse().find((l) => l.items.has(item));
      if (!credited) tally(server.version()!).unattributed++;
      else if (!credited.clicked.has(item)) {
        if (credited.clicked.size === 0) tally(credited.version).hits++;
        credited.clicked.add(item);
        tally(credited.version).clicks++;
      }
    }
  }
}

/** Copies a run's report (Markdown and charts) out of S3, so a person can open it. */
async function saveReport(store: ObjectStore, summary: LifecycleSummary, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const object of await store.list(`${runReportPrefix(summary.model, summary.workflowId)}/`)) {
    writeFileSync(path.join(dir, path.basename(object.key)), await store.getBytes(object.key));
  }
}

describe('replay: the nightly loop learns from served traffic @integration', () => {
  it('serves, measures exactly what the client did, tunes, promotes better models and retrains on an alarm', async () => {
    const { config, workers } = await testStack();
    const { store, client } = workers;
    const dataset = 'replay';
    const model = `${dataset}-next-item`;
    const { events } = generateSyntheticStore(STORE);
    const firstReplayed = Date.parse(STORE.endDate) - (REPLAYED_DAYS - 1) * DAY_MS;
    const replayed = Array.from({ length: REPLAYED_DAYS }, (_, d) => firstReplayed + d * DAY_MS);
    const history = events.filter((e) => e.timestamp < firstReplayed);
    await store.put(`${rawPrefix(dataset, 'events')}events-history.csv`, eventsToCsv(history), 'text/csv');

    const nights: LifecycleSummary[] = [];
    const night = async (cutoffMs: number, input: LifecycleInputFields) => {
      const run = await runLifecycle(client, config, { dataset, dataCutoff: new Date(cutoffMs).toISOString(), ...input }, undefined, `replay-${process.pid}-${dayOf(cutoffMs)}`);
      assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
      nights.push(run.summary);
      return run.summary;
    };

    const first = await night(firstReplayed, { hyperparameters: FIRST_NIGHT, feedback: FEEDBACK });
    assert.equal(first.promoted, true, first.reasons.join('; '));
    assert.equal(first.feedback.status, 'no-feedback');

    // A replay posts weeks of every user's events as fast as it can from one client: no rate limit applies to it.
    const unlimited = { burst: Number.MAX_SAFE_INTEGER, perSecond: Number.MAX_SAFE_INTEGER };
    const server = await startServingServer({ model, store, log, pollIntervalMs: 200, feedback: { flushIntervalMs: 200 }, feedbackLimits: { perClient: unlimited, perUser: unlimited } });
    const sent = new Map<string, Tally>();
    const perDay: { day: string; tallies: Map<string, Tally> }[] = [];
    const lists = new Map<string, ServedList[]>();
    const seen: RawEvent[] = [...history];
    const known = itemsByUser(history);
    try {
      for (const [d, dayStart] of replayed.entries()) {
        const champion = nights[nights.length - 1].promoted ? nights[nights.length - 1].version : nights[nights.length - 1].championVersion;
        await eventually(`the server to serve ${champion}`, async () => (server.version() === champion ? true : undefined));
        const dayEvents = events.filter((e) => e.timestamp >= dayStart && e.timestamp < dayStart + DAY_MS);
        const tallies = new Map<string, Tally>();
        await replayDay(server, dayOf(dayStart), dayEvents, { lists, known, popular: popularityLists(seen) }, tallies);
        perDay.push({ day: dayOf(dayStart), tallies });
        for (const [version, t] of tallies) {
          const sum = sent.get(version) ?? newTally();
          sent.set(version, Object.fromEntries(Object.entries(sum).map(([key, n]) => [key, n + t[key as keyof Tally]])) as unknown as Tally);
        }
        await eventually('the feedback to be written', async () => (server.feedbackStats().bufferedRows === 0 ? true : undefined));
        // The store's own event log gets the day too: tomorrow's model trains on it.
        await store.put(`${rawPrefix(dataset, 'events')}events-${dayOf(dayStart)}.csv`, eventsToCsv(dayEvents), 'text/csv');
        seen.push(...dayEvents);

        const last = d === REPLAYED_DAYS - 1;
        const summary = await night(dayStart + DAY_MS, {
          // Night 1 sets the hyperparameters and searches around them; later nights take the search's winner.
          ...(d === 0 ? { hyperparameters: TRAINED, optimize: { search: SEARCH } } : {}),
          // The last night's threshold cannot be met, so its alarm starts a retrain.
          feedback: last ? { ...FEEDBACK, retrainOnAlarm: true, psiThresholds: { 'sequence-length': 0 } } : FEEDBACK,
        });
        // The feedback step counts exactly what the client did, per version.
        assert.equal(summary.feedback.status, 'measured');
        assert.deepEqual(Object.keys(summary.feedback.perVersion).sort(), [...sent.keys()].sort());
        for (const [version, t] of sent) {
          const measured = summary.feedback.perVersion[version];
          assert.deepEqual(
            [measured.requests, measured.metrics.impressions, measured.metrics.clicks, measured.metrics.unattributedOutcomes, measured.metrics.hitRate],
            [t.requests, t.impressions, t.clicks, t.unattributed, t.hits / t.requests],
            version,
          );
        }
      }
    } finally {
      await server.close();
    }

    const [, second, third, fourth] = nights;
    const rate = (n: number, t: Tally) => +(n / t.requests).toFixed(4);
    log.warn({
      nights: nights.map((n) => ({ cutoff: n.dataCutoff, promoted: n.promoted, version: n.version ?? n.championVersion, ndcg10: n.metrics['ndcg@10'], popularity: n.baseline['ndcg@10'], hyperparameters: n.hyperparameters.source, optimize: n.optimize.rationale })),
      days: perDay.map((d) => ({ day: d.day, versions: Object.fromEntries([...d.tallies].map(([v, t]) => [v, { requests: t.requests, nextItemShown: rate(t.nextItemShown, t), popularity: rate(t.nextItemPopular, t), hitRate: rate(t.hits, t), ctr: +(t.clicks / t.impressions).toFixed(4) }])) })),
      search: second.optimize.search?.trials.map((t) => ({ rung: t.rung, id: t.candidate.id, epochs: t.epochs, params: t.candidate.params, validationNdcg10: +(t.validation ?? 0).toFixed(4), seconds: t.trainSeconds })),
      retrain: fourth.retrain,
    }, 'replay results');

    // Night 1: a searched, properly trained model replaces the two-epoch champion.
    assert.equal(second.promoted, true, second.reasons.join('; '));
    assert.equal(second.hyperparameters.source, 'input');
    const search = second.optimize.search!;
    assert.deepEqual(search.trials.map((t) => t.epochs), [2, 2, 2, 6], 'three trials, then the best one with three times the epochs');
    assert.ok(search.stored && search.best);
    // Later nights train with the stored winner and say so.
    for (const later of [third, fourth]) {
      assert.equal(later.hyperparameters.source, 'search');
      assert.equal(later.hyperparameters.searchWorkflowId, search.workflowId);
      assert.equal(later.hyperparameters.values.learningRate, search.best.candidate.params.learningRate);
    }

    // Online: the trained champions show the user's next item more often than the first one did, and than popularity would.
    const [firstDay] = perDay[0].tallies.values();
    for (const { day, tallies } of perDay.slice(1)) {
      for (const [version, t] of tallies) {
        if (t.requests === 0) continue; // a version credited with a late click of yesterday's list only
        assert.ok(rate(t.nextItemShown, t) > rate(firstDay.nextItemShown, firstDay), `${day} ${version}: ${rate(t.nextItemShown, t)} vs first champion ${rate(firstDay.nextItemShown, firstDay)}`);
        assert.ok(t.nextItemShown > t.nextItemPopular, `${day} ${version}: ${rate(t.nextItemShown, t)} vs popularity ${rate(t.nextItemPopular, t)}`);
      }
    }

    // The last night's alarm started exactly one retrain, recorded with its reason; the retrain starts none.
    assert.ok(fourth.retrain, fourth.optimize.rationale);
    assert.match(fourth.retrain.reasons.join(' '), /sequence length drifted: PSI \d/);
    const retrain: LifecycleSummary = await client.workflow.getHandle(fourth.retrain.workflowId).result();
    assert.equal(retrain.retrain, null);
    assert.ok(Date.parse(retrain.dataCutoff!) > Date.parse(fourth.dataCutoff!), 'the retrain trains on all data collected until the alarm');

    const reportDir = path.join(config.local.dataDir, 'replay-report');
    await saveReport(store, fourth, reportDir);
    const report = await store.getBytes(`${runReportPrefix(model, fourth.workflowId)}/report.md`);
    assert.match(Buffer.from(report).toString(), /## Online metrics per version/);
    log.warn({ reportDir }, 'replay report saved');
  });
});
