import assert from 'node:assert/strict';
import { onlineDropAlarm, timestampMs } from '../../activities/feedback';
import { populationStabilityIndex } from '../../activities/drift';
import { OnlineMetricsJoin, ONLINE_METRICS } from '../../activities/model-kinds/next-item/feedback';
import { nextItemKind } from '../../activities/model-kinds/next-item';
import { planSearchCandidates } from '../../activities/optimize';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import { RecommenderHyperparameters } from '../../ml/sequence/hyperparameters';
import type { FeedbackEvent } from '../../schemas/feedback';
import type { OnlineMetrics, StepContext } from '../../schemas/steps';

const at = (minute: number) => Date.UTC(2026, 10, 1, 12, minute);
const shown = (version: string, request: string, user: string, items: string[], minute = 0): FeedbackEvent[] =>
  items.map((item, position) => ({ type: 'impression', model_version: version, user_id: user, item_id: item, request_id: request, position, timestamp: at(minute) }));
const outcome = (type: FeedbackEvent['type'], version: string, user: string, item: string, request?: string): FeedbackEvent =>
  ({ type, model_version: version, user_id: user, item_id: item, request_id: request ?? null, timestamp: at(30) });

describe('feedback join', () => {
  it('credits outcomes to the list that showed the item, once per request and item, by request id or by user', () => {
    const join = new OnlineMetricsJoin();
    for (const row of [
      ...shown('v1', 'r1', 'alice', ['a', 'b', 'c']),
      ...shown('v1', 'r2', 'bob', ['a', 'd', 'e']),
      ...shown('v2', 'r3', 'carol', ['x', 'y'], 5),
      outcome('click', 'v1', 'alice', 'b', 'r1'),
      outcome('click', 'v1', 'alice', 'b', 'r1'), // double click
      outcome('purchase', 'v1', 'alice', 'b', 'r1'),
      outcome('click', 'v1', 'bob', 'z', 'r2'), // not in bob's list
      outcome('add_to_cart', 'v2', 'carol', 'y'), // no request id: joined by user and item
    ]) join.add(row);
    join.endDay();
    const m = join.metrics();
    assert.deepEqual([m.v1.requests, m.v1.metrics.impressions, m.v1.metrics.clicks, m.v1.metrics.purchases, m.v1.metrics.unattributedOutcomes], [2, 6, 1, 1, 1]);
    assert.equal(m.v1.metrics.hitRate, 0.5);
    assert.equal(m.v1.metrics.ctr, 1 / 6);
    assert.deepEqual([m.v2.requests, m.v2.metrics.addToCarts, m.v2.metrics.hitRate], [1, 1, 1]);
    assert.ok(m.v1.firstSeen < m.v2.firstSeen);
    assert.deepEqual([...join.servedUsers].sort(), ['alice', 'bob', 'carol']);
  });

  it('credits an outcome without request id to the latest list served before it, whatever the file order', () => {
    const join = new OnlineMetricsJoin();
    for (const row of [...shown('v2', 'late', 'alice', ['a'], 45), ...shown('v2', 'second', 'alice', ['a'], 20), ...shown('v1', 'first', 'alice', ['a'], 10)]) join.add(row);
    join.add(outcome('click', 'v1', 'alice', 'a')); // at minute 30
    join.endDay();
    const m = join.metrics();
    assert.deepEqual([m.v1.metrics.clicks, m.v2.metrics.clicks, m.v2.metrics.hitRate, m.v1.metrics.unattributedOutcomes], [0, 1, 0.5, 0]);
  });

  it('joins outcomes with the previous day\'s lists and forgets older ones', () => {
    const join = new OnlineMetricsJoin();
    for (const row of shown('v1', 'r1', 'alice', ['a'])) join.add(row);
    join.endDay();
    join.add(outcome('click', 'v1', 'alice', 'a', 'r1'));
    join.endDay();
    join.add(outcome('purchase', 'v1', 'alice', 'a', 'r1'));
    join.endDay();
    const m = join.metrics().v1;
    assert.deepEqual([m.metrics.clicks, m.metrics.purchases, m.metrics.unattributedOutcomes], [1, 0, 1]);
  });

  it('reads timestamps in the forms Arrow and the contract allow', () => {
    const ms = Date.UTC(2026, 0, 2);
    for (const value of [ms, ms / 1000, BigInt(ms), new Date(ms), '2026-01-02T00:00:00Z', String(ms / 1000)]) assert.equal(timestampMs(value), ms);
  });
});

describe('population stability index', () => {
  it('is 0 for the same distribution and grows with the shift', () => {
    assert.equal(populationStabilityIndex([10, 20, 70], [1, 2, 7]), 0);
    const small = populationStabilityIndex([10, 20, 70], [12, 22, 66]);
    const large = populationStabilityIndex([10, 20, 70], [60, 20, 20]);
    assert.ok(small > 0 && small < 0.1, `${small}`);
    assert.ok(large > 0.25, `${large}`);
    assert.ok(Number.isFinite(populationStabilityIndex([10, 0], [5, 5])), 'an empty bucket stays finite');
  });
});

describe('hyperparameter search plan', () => {
  const ctx = (optimize: object): StepContext => ({
    config: parseLifecycleInput({ optimize, hyperparameters: { heads: 4 } }),
    workflowId: 'w',
    runId: 'r',
    startedAt: '2026-11-01T00:00:00Z',
  });

  it('starts from the run\'s own values, then distinct valid draws from the space, the same for the same seed', () => {
    const search = { trials: 6, space: { learningRate: { min: 0.0001, max: 0.01, scale: 'log' }, hiddenDim: { choices: [30, 32, 64] }, maxLen: { min: 10, max: 50, integer: true } } };
    const plan = planSearchCandidates(nextItemKind, ctx({ search }));
    assert.equal(plan.length, 6);
    assert.deepEqual(plan[0].params, { learningRate: 0.001, hiddenDim: 64, maxLen: 50 });
    assert.equal(new Set(plan.map((c) => JSON.stringify(c.params))).size, 6);
    for (const c of plan) {
      assert.ok(RecommenderHyperparameters.safeParse({ heads: 4, ...c.params }).success, JSON.stringify(c.params));
      assert.notEqual(c.params.hiddenDim, 30, 'hiddenDim 30 is not divisible by 4 heads');
      assert.ok(Number.isInteger(c.params.maxLen));
    }
    assert.deepEqual(planSearchCandidates(nextItemKind, ctx({ search })), plan);
    assert.notDeepEqual(planSearchCandidates(nextItemKind, ctx({ search: { ...search, seed: 2 } })), plan);
  });

  it('refuses a space with epochs (the budget) or an inverted range, naming the field', () => {
    assert.throws(() => planSearchCandidates(nextItemKind, ctx({ search: { space: { epochs: { min: 1, max: 5 } } } })), /epochs cannot be searched for next-item/);
    assert.throws(() => planSearchCandidates(nextItemKind, ctx({ search: { space: { depth: { min: 1, max: 5 } } } })), /depth cannot be searched/);
    assert.throws(() => parseLifecycleInput({ optimize: { search: { space: { dropout: { min: 0.5, max: 0.1 } } } } }), /optimize\.search\.space\.dropout: min must not be above max/);
    assert.throws(() => parseLifecycleInput({ feedback: { maxOnlineDrop: 2 } }), /feedback\.maxOnlineDrop/);
  });
});

describe('online-metric alarm', () => {
  const config = parseLifecycleInput({}).feedback;
  const hitRate = ONLINE_METRICS.find((m) => m.name === 'hitRate')!;
  const version = (firstSeen: string, requests: number, users: number, hits: number): OnlineMetrics => ({ requests, users, firstSeen, metrics: { hits, hitRate: hits / requests } });
  const pair = (a: OnlineMetrics, b: OnlineMetrics) => ({ v1: a, v2: b });

  it('fires on a significant drop with enough requests and users', () => {
    assert.match(onlineDropAlarm(pair(version('2026-11-01', 250, 250, 60), version('2026-11-02', 250, 250, 0)), hitRate, config) ?? '', /hit rate of v2 .* 100% worse than v1/);
  });

  it('never fires from one outcome, a zero baseline, too few users or requests', () => {
    assert.equal(onlineDropAlarm(pair(version('2026-11-01', 250, 250, 1), version('2026-11-02', 250, 250, 0)), hitRate, config), null, 'one hit against none');
    assert.equal(onlineDropAlarm(pair(version('2026-11-01', 250, 250, 0), version('2026-11-02', 250, 250, 0)), hitRate, config), null, 'zero baseline');
    assert.equal(onlineDropAlarm(pair(version('2026-11-01', 250, 3, 60), version('2026-11-02', 250, 3, 0)), hitRate, config), null, 'three users');
    assert.equal(onlineDropAlarm(pair(version('2026-11-01', 100, 100, 60), version('2026-11-02', 100, 100, 0)), hitRate, config), null, 'under minRequests');
  });
});

describe('feedback join credit window', () => {
  it('credits an outcome only after its list, within the window, for the user it was served to', () => {
    const join = new OnlineMetricsJoin(10 * 60_000);
    const impression = { type: 'impression', model_version: 'v1', user_id: 'u', item_id: 'a', request_id: 'r1', position: 0, timestamp: at(0) } as FeedbackEvent;
    join.add(impression);
    join.add({ ...impression, type: 'purchase', timestamp: at(-1) } as FeedbackEvent);
    join.add({ ...impression, type: 'purchase', timestamp: at(11) } as FeedbackEvent);
    join.add({ ...impression, type: 'purchase', user_id: 'someone-else', timestamp: at(1) } as FeedbackEvent);
    join.endDay();
    assert.equal(join.metrics().v1.metrics.hits, 0);
    assert.equal(join.metrics().v1.metrics.unattributedOutcomes, 3);
    join.add(impression);
    join.add({ ...impression, type: 'purchase', timestamp: at(5) } as FeedbackEvent);
    join.endDay();
    assert.equal(join.metrics().v1.metrics.hits, 1);
  });
});
