import assert from 'node:assert/strict';
import { decidePromotion } from '../../activities/evaluate';
import { disparity, disparityGate, segmentBy, selectSegments, tierBoundaries, tierOf } from '../../activities/fairness';
import { INTENT_SEGMENTS, intentSegments, languageOf } from '../../activities/model-kinds/intent-routing/evaluation';
import { catalogueSegments } from '../../activities/model-kinds/product-categorisation/evaluation';
import { volumeTiers } from '../../activities/model-kinds/demand-forecast/evaluation';
import { activitySegments, tailExposure } from '../../activities/model-kinds/next-item';
import { falsePositiveRate, riskSegments } from '../../activities/model-kinds/transaction-risk/evaluation';
import type { SplitRows } from '../../activities/model-kinds/transaction-risk/prepare';
import { intentRoutingKind } from '../../activities/model-kinds/intent-routing';
import { segmentTables } from '../../activities/run-report';
import { parseLifecycleInput } from '../../schemas/lifecycle-input';
import type { MetricSpec } from '../../activities/model-kinds/contract';
import type { SegmentAttribute } from '../../schemas/steps';

const accuracy: MetricSpec = { name: 'accuracy', label: 'accuracy', direction: 'higher', format: 'percent' };
const error: MetricSpec = { name: 'mae', label: 'MAE', direction: 'lower', format: 'number' };
const attribute = (name: string, rows: [string, number, number][], metric = 'accuracy'): SegmentAttribute => ({
  attribute: name,
  label: name,
  segments: rows.map(([segment, cases, value]) => ({ segment, cases, metrics: { [metric]: value } })),
});

describe('fairness: disparity to the best segment', () => {
  // Hand-computed: best = the highest (or lowest, for a lower-is-better metric) among segments with >= 30 cases.
  const cases: { title: string; spec: MetricSpec; rows: [string, number, number][]; best: string | null; ratio: (number | null)[]; difference: (number | null)[]; worst: string | null }[] = [
    { title: 'higher is better', spec: accuracy, rows: [['en', 100, 0.9], ['zh', 50, 0.72]], best: 'en', ratio: [1, 0.8], difference: [0, 0.18], worst: 'zh' },
    { title: 'lower is better', spec: error, rows: [['low', 40, 2], ['mid', 40, 3], ['high', 40, 5]], best: 'low', ratio: [1, 1.5, 2.5], difference: [0, 1, 3], worst: 'high' },
    { title: 'a small segment is shown, not counted', spec: accuracy, rows: [['big', 30, 0.6], ['tiny', 29, 1], ['mid', 200, 0.45]], best: 'big', ratio: [1, null, 0.75], difference: [0, null, 0.15], worst: 'mid' },
    { title: 'best of 0 has no ratio', spec: error, rows: [['a', 30, 0], ['b', 30, 0.5]], best: 'a', ratio: [null, null], difference: [0, 0.5], worst: 'b' },
    { title: 'one segment: no disparity', spec: accuracy, rows: [['all', 500, 0.8]], best: 'all', ratio: [1], difference: [0], worst: 'all' },
    { title: 'all too small: nothing counted', spec: accuracy, rows: [['a', 3, 0.8], ['b', 4, 0.1]], best: null, ratio: [null, null], difference: [null, null], worst: null },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const result = disparity(c.spec, attribute('x', c.rows, c.spec.name), 30);
      assert.equal(result.best, c.best);
      result.segments.forEach((s, i) => {
        if (c.ratio[i] === null) assert.equal(s.ratio, null);
        else assert.ok(Math.abs(s.ratio! - c.ratio[i]!) < 1e-12, `${s.segment} ratio ${s.ratio}`);
        if (c.difference[i] === null) assert.equal(s.difference, null);
        else assert.ok(Math.abs(s.difference! - c.difference[i]!) < 1e-12, `${s.segment} difference ${s.difference}`);
      });
      assert.equal(result.worst?.segment ?? null, c.worst);
    });
  }

  it('a segment without the metric is left out', () => {
    const result = disparity(accuracy, { attribute: 'x', label: 'x', segments: [{ segment: 'a', cases: 40, metrics: { accuracy: 0.5 } }, { segment: 'b', cases: 40, metrics: {} }] });
    assert.deepEqual(result.segments.map((s) => s.included), [true, false]);
  });
});

describe('fairness: promotion.maxDisparity', () => {
  const candidate = [attribute('language', [['en', 100, 0.9], ['zh', 100, 0.7]])];
  const champion = (zh: number) => ({ version: 'v3', segments: [attribute('language', [['en', 100, 0.88], ['zh', 100, zh]])] });

  it('blocks when the worst difference grows by more than the bound, naming attribute, segment and numbers', () => {
    // candidate: 0.9 - 0.7 = 0.2; champion: 0.88 - 0.83 = 0.05; growth 0.15 > 0.1
    const gate = disparityGate({ spec: accuracy, maxDisparity: 0.1, minCases: 30, candidate, champion: champion(0.83) });
    assert.equal(gate.block, true);
    assert.match(gate.reasons[0], /language: segment "zh" is 0\.2000 behind the best \("en"\), champion v3's worst is 0\.0500 \("zh"\); it grew by 0\.1500, more than promotion\.maxDisparity 0\.1/);
  });

  it('lets it pass when growth is within the bound', () => {
    // champion: 0.88 - 0.8 = 0.08; growth 0.12 <= 0.15
    const gate = disparityGate({ spec: accuracy, maxDisparity: 0.15, minCases: 30, candidate, champion: champion(0.8) });
    assert.equal(gate.block, false);
  });

  it('decidePromotion: a better candidate is blocked by disparity; without the rule it is promoted', () => {
    const base = { spec: accuracy, minImprovement: 0, candidate: { accuracy: 0.8 }, baseline: { accuracy: 0.5 }, baselineLabel: 'baseline' };
    const champ = { version: 'v3', metrics: { accuracy: 0.78 }, sameWeights: false, segments: champion(0.83).segments };
    assert.equal(decidePromotion({ ...base, champion: champ }).promote, true);
    const blocked = decidePromotion({ ...base, champion: champ, disparity: { maxDisparity: 0.1, minCases: 30, candidate } });
    assert.equal(blocked.promote, false);
    assert.ok(blocked.reasons.some((r) => r.includes('promotion.maxDisparity')));
  });

  it('without a champion the rule does not apply', () => {
    const result = decidePromotion({ spec: accuracy, minImprovement: 0, candidate: { accuracy: 0.8 }, baseline: { accuracy: 0.5 }, baselineLabel: 'b', champion: null, disparity: { maxDisparity: 0, minCases: 30, candidate } });
    assert.equal(result.promote, true);
  });
});

describe('fairness: segments, tiers and input', () => {
  it('segmentBy groups cases, in the given order then sorted', () => {
    const rows = segmentBy([1, 2, 3, 4, 5], (n) => (n % 2 ? 'odd' : 'even'), (g) => ({ sum: g.reduce((a, b) => a + b, 0) }), ['odd']);
    assert.deepEqual(rows, [{ segment: 'odd', cases: 3, metrics: { sum: 9 } }, { segment: 'even', cases: 2, metrics: { sum: 6 } }]);
  });

  it('tiers come from quantiles of the training values', () => {
    const boundaries = tierBoundaries([1, 2, 3, 4, 5, 6, 7, 8, 9], 3);
    assert.deepEqual(boundaries, [4, 7]);
    assert.deepEqual([1, 4, 6.9, 7, 100].map((v) => tierOf(v, boundaries, ['low', 'mid', 'high'])), ['low', 'mid', 'mid', 'high', 'high']);
  });

  it('evaluation.segments is checked against what the kind can segment by', () => {
    const kind = { name: 'intent-routing', segments: INTENT_SEGMENTS };
    assert.deepEqual(selectSegments(kind, undefined), ['language', 'length']);
    assert.deepEqual(selectSegments(kind, ['length']), ['length']);
    assert.throws(() => selectSegments(kind, ['merchant']), /evaluation\.segments: intent-routing cannot segment by "merchant"; it segments by language, length/);
    assert.throws(() => selectSegments({ name: 'next-item' }, ['activity']), /next-item cannot segment by "activity"; it segments by nothing/);
  });

  it('the input takes promotion.maxDisparity and evaluation.segments', () => {
    const config = parseLifecycleInput({ promotion: { maxDisparity: 0.05 }, evaluation: { segments: ['language'] } });
    assert.equal(config.promotion.maxDisparity, 0.05);
    assert.deepEqual(config.evaluation, { segments: ['language'], minSegmentCases: 30 });
    assert.throws(() => parseLifecycleInput({ promotion: { maxDisparity: -1 } }), /maxDisparity/);
  });
});

describe('fairness: intent-routing segments', () => {
  it('segments test rows by script and by length tiers from the training texts', () => {
    assert.equal(languageOf('我的订单在哪里'), 'zh');
    assert.equal(languageOf('where is my order 123'), 'latin');
    const train = ['ab', 'abcd', 'abcdef', 'abcdefgh', 'abcdefghij', 'abcdefghijkl']; // length terciles cut at 6 and 10
    const test = ['a', '我的订单在哪里啊', 'abcdefghijk'];
    const seen: number[][] = [];
    const attributes = intentSegments(train, test, (rows) => (seen.push(rows), { accuracy: rows.length }));
    assert.deepEqual(attributes.map((a) => a.attribute), ['language', 'length']);
    assert.deepEqual(attributes[0].segments.map((s) => [s.segment, s.cases]), [['latin', 2], ['zh', 1]]);
    assert.deepEqual(attributes[1].segments.map((s) => [s.segment, s.cases]), [['short', 1], ['medium', 1], ['long', 1]]);
    assert.deepEqual(seen[0], [0, 2]);
  });
});

describe('fairness: product-categorisation segments', () => {
  it('the largest merchants by test offers on their own (ties by name), the rest pooled', () => {
    const merchants = ['a', 'a', 'a', 'b', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const test = merchants.map((_, i) => i);
    const [byMerchant] = catalogueSegments(merchants, [], test, (positions) => ({ accuracy: positions.length }));
    assert.equal(byMerchant.attribute, 'merchant');
    assert.deepEqual(byMerchant.segments.map((s) => [s.segment, s.cases]), [['a', 3], ['b', 2], ['c', 1], ['d', 1], ['e', 1], ['f', 1], ['g', 1], ['h', 1], ['other merchants', 1]]);
  });

  it('merchant size tiers cut at the terciles of the training offers\' merchant sizes', () => {
    // x lists 4 offers, y 2, z 1; training offers' sizes 4 4 4 2 1, sorted 1 2 4 4 4: cut at 2 and 4.
    const merchants = ['x', 'x', 'x', 'x', 'y', 'y', 'z'];
    const seen: number[][] = [];
    const [, bySize] = catalogueSegments(merchants, [0, 1, 2, 4, 6], [3, 5], (positions) => (seen.push(positions), { accuracy: positions.length }));
    assert.equal(bySize.attribute, 'merchantSize');
    assert.deepEqual(bySize.segments.map((s) => [s.segment, s.cases]), [['mid', 1], ['large', 1]]);
    assert.deepEqual(seen.slice(-2), [[1], [0]], 'metrics are asked for positions in the test rows');
  });
});

describe('fairness: demand-forecast segments', () => {
  it('volume tiers cut at terciles of the history means', () => {
    const window = (mean: number) => ({ history: Float64Array.of(mean, mean), originalHistory: Float64Array.of(mean, mean), actual: Float64Array.of(mean) });
    const tiers = volumeTiers([1, 50, 2, 100, 3, 60].map(window)); // sorted means 1 2 3 50 60 100: cut at 3 and 60
    assert.deepEqual(tiers, { low: [0, 2], medium: [1, 4], high: [3, 5] });
  });
});

describe('fairness: run report segment table', () => {
  it('one table per attribute, candidate beside champion, small segments marked', () => {
    const summary = {
      primaryMetric: 'accuracy',
      segments: {
        candidate: [attribute('language', [['latin', 100, 0.9], ['zh', 50, 0.72], ['xx', 3, 0.1]])],
        champion: [attribute('language', [['latin', 100, 0.88], ['zh', 50, 0.83]])],
        minCases: 30,
      },
    } as unknown as Parameters<typeof segmentTables>[1];
    const markdown = segmentTables(intentRoutingKind, summary);
    assert.match(markdown, /### By language/);
    assert.match(markdown, /Worst: new zh \(0\.1800\); champion zh \(0\.0500\)\./);
    assert.match(markdown, /\| zh \| 50 \| 72\.00% \| 0\.800 \| 0\.1800 \| 50 \| 83\.00% \| 0\.943 \| 0\.0500 \|/);
    assert.match(markdown, /\| xx \* \| 3 \|/);
    assert.match(segmentTables(intentRoutingKind, { ...summary, segments: undefined }), /declares no segments/);
  });

  it('shows each case count through the report\'s count function, one name per count (report.epsilon)', () => {
    const summary = {
      primaryMetric: 'accuracy',
      segments: { candidate: [attribute('language', [['latin', 100, 0.9], ['zh', 50, 0.72]])], champion: [attribute('language', [['latin', 100, 0.88], ['zh', 49, 0.83]])], minCases: 30 },
    } as unknown as Parameters<typeof segmentTables>[1];
    const names: string[] = [];
    const markdown = segmentTables(intentRoutingKind, summary, (name, value) => (names.push(name), value + 1000));
    assert.match(markdown, /\| latin \| 1100 \| 90\.00% \| 1\.000 \| 0\.0000 \| 1100 \|/);
    assert.match(markdown, /\| zh \| 1050 \| 72\.00% \| .* \| 1049 \|/);
    assert.deepEqual(names, ['cases of language = latin', 'cases of language = latin', 'cases of language = zh', 'champion cases of language = zh']);
  });
});

describe('fairness: transaction-risk segments', () => {
  // Two features per row: transactions and mean amount over 30 days.
  const names = ['customer_nb_tx_30d', 'customer_avg_amount_30d'];
  const rowsOf = (values: [number, number][], y: number[]): SplitRows => ({
    x: Float32Array.from(values.flat()),
    y: Uint8Array.from(y),
    day: new Int32Array(y.length),
    card: Int32Array.from(y.keys()),
    ids: y.map((_, i) => `t${i}`),
    names,
  });

  it('false-positive rate: the genuine transactions flagged, over all genuine ones', () => {
    // Genuine rows 0, 1, 3; flagged 1 and 2 (a fraud): one of three good customers bothered.
    assert.equal(falsePositiveRate([0, 0, 1, 0], (r) => r === 1 || r === 2, [0, 1, 2, 3]), 1 / 3);
    assert.ok(Number.isNaN(falsePositiveRate([1, 1], () => true, [0, 1])));
  });

  it('tiers come from the training rows, and each segment has its own false-positive rate at the review threshold', () => {
    // Training: amounts 10..90 (terciles cut at 40 and 70), counts 1..9 (first decile 1).
    const train = rowsOf(Array.from({ length: 9 }, (_, i) => [i + 1, (i + 1) * 10]), new Array(9).fill(0));
    // Test: two low spenders, one new (0 transactions); two high spenders.
    const test = rowsOf([[0, 5], [3, 20], [5, 80], [6, 95]], [0, 0, 1, 0]);
    const scores = Float32Array.from([0.9, 0.1, 0.8, 0.6]);
    const [spending, tenure] = riskSegments(train, test, scores, 1, 0.5);
    assert.deepEqual(spending.segments.map((s) => [s.segment, s.cases, s.metrics.falsePositiveRate]), [['low', 2, 0.5], ['high', 2, 1]]);
    assert.deepEqual(tenure.segments.map((s) => [s.segment, s.cases, s.metrics.falsePositiveRate]), [['new', 1, 1], ['established', 3, 0.5]]);
  });
});

describe('fairness: next-item segments', () => {
  it('ranks each test case into its activity tier, cut at the training sequences\' length terciles', () => {
    // Training lengths 1..9: terciles cut at 4 and 7.
    const training = Array.from({ length: 9 }, (_, i) => new Int32Array(i + 1));
    const cases = [2, 3, 5, 8].map((length) => ({ history: new Int32Array(length), target: 1 }));
    const activity = activitySegments(training, cases);
    // Ranks 0 (a hit at the top), 30 (a miss), 0, 1.
    [0, 30, 0, 1].forEach((rank, i) => activity.onRank(i, rank));
    const { segments } = activity.result();
    assert.deepEqual(segments.map((s) => [s.segment, s.cases, s.metrics['hr@10']]), [['light', 2, 0.5], ['medium', 1, 1], ['heavy', 1, 1]]);
    assert.equal(segments[2].metrics['ndcg@10'], 1 / Math.log2(3));
  });
});

describe('fairness: popularity bias of ranked lists', () => {
  it('counts the long-tail items (outside the 80% head of interactions) among the top-10 slots', () => {
    // Items 1..12: item 1 has 80 of 100 interactions (the head), items 2..11 two each, item 12 none.
    const counts = [0, 80, ...new Array(10).fill(2), 0];
    const tail = tailExposure(counts);
    assert.ok(Math.abs(tail.interactionShare - 0.2) < 1e-12, String(tail.interactionShare));
    // A list led by the head item: 1 head + 9 tail slots; a list of tail items only: 10 tail slots.
    tail.add(Float32Array.from([0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.4, 0.3]));
    tail.add(Float32Array.from([0, -1, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 0.4, 0.3]));
    assert.equal(tail.exposure(), 19 / 20);
  });
});
