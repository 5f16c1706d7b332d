/**
 * Fairness on the real stack: a candidate that fails one segment is not promoted under
 * `promotion.maxDisparity`, the reason names the segment and the numbers, and the champion
 * stays; with `report.epsilon` the run report's counts carry differential-privacy noise and say so.
 *
 * The gap is made on purpose, as a real one arises: a labelling vendor's batch of Chinese
 * messages, each filed under the wrong intent, lands in the second run's training data (its
 * rows name the training split, so the test split is the first run's). On this easy synthetic
 * data the candidate is then also worse overall, so the accuracy rule blocks it too: that the
 * disparity rule alone blocks a candidate better overall is decidePromotion's unit test.
 */
import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { runLifecycle } from '../../cli/local-run';
import { readChampion } from '../../activities/registry/serving-registry';
import { DEFAULT_UTTERANCE_SIMULATION, SYNTHETIC_INTENTS, simulateUtterances, syntheticUtteranceFiles } from '../../activities/model-kinds/intent-routing/synthetic';
import { PSEUDONYM_KEY_ENV } from '../../activities/privacy/pseudonyms';
import { servingModelName } from '../../schemas/lifecycle-input';
import type { ObjectStore } from '../../activities/storage/object-store';
import type { LifecycleSummary } from '../../schemas/summary';

const kind = 'intent-routing';

/** Chinese messages, each under the intent after its own: training rows (their split is given) that teach the model wrong answers for Chinese only. */
function mislabelledChineseBatch(): string {
  const rows = simulateUtterances({ ...DEFAULT_UTTERANCE_SIMULATION, seed: 99, conversations: 1500, chineseShare: 1, germanShare: 0, unlabelledShare: 0, vagueShare: 0, mislabelShare: 0 });
  return rows
    .map((row, i) => JSON.stringify({
      text: row.text,
      intent: SYNTHETIC_INTENTS[(SYNTHETIC_INTENTS.indexOf(row.intent!) + 1) % SYNTHETIC_INTENTS.length],
      conversation_id: `vendor-${i}`,
      timestamp: row.timestamp,
      split: 'train',
    }))
    .join('\n') + '\n';
}

describe('fairness: a promotion blocked by disparity, and noised report counts @integration', () => {
  const dataset = `fairness-${Date.now()}`;
  const model = servingModelName({ dataset, kind });
  const keyBefore = process.env[PSEUDONYM_KEY_ENV];
  let store: ObjectStore;
  let first: LifecycleSummary;
  let second: LifecycleSummary;

  before(async () => {
    // report.epsilon draws its noise from the pseudonym key; the pipeline worker runs in this process.
    process.env[PSEUDONYM_KEY_ENV] = 'fairness-test-key-'.padEnd(40, 'x');
    const { config, workers } = await testStack();
    store = workers.store;
    for (const file of syntheticUtteranceFiles()) await store.put(`raw/${dataset}/utterances/${file.name}`, file.body);
    const clean = await runLifecycle(workers.client, config, { kind, dataset });
    assert.equal(clean.status, 'completed', clean.status === 'failed' ? clean.error : '');
    first = clean.summary;

    await store.put(`raw/${dataset}/utterances/vendor-batch-zh.jsonl`, mislabelledChineseBatch());
    const run = await runLifecycle(workers.client, config, { kind, dataset, promotion: { minImprovement: 0, maxDisparity: 0.2 }, report: { epsilon: 0.5 } });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    second = run.summary;
  });

  after(() => {
    if (keyBefore === undefined) delete process.env[PSEUDONYM_KEY_ENV];
    else process.env[PSEUDONYM_KEY_ENV] = keyBefore;
  });

  it('does not promote a candidate that leaves Chinese messages behind, and names the segment', async () => {
    assert.equal(first.promoted, true, first.reasons.join('; '));
    const reasons = second.reasons.join('\n');
    // Only a blocking disparity gate writes this reason.
    assert.match(reasons, /accuracy disparity by language \(by script\): segment "zh" is 0\.\d{4} behind the best \("latin"\), champion .*; it grew by 0\.\d{4}, more than promotion\.maxDisparity 0\.2/);
    assert.equal(second.promoted, false);
    assert.equal((await readChampion(store, model))?.alias.version, first.version, 'the champion stays');
    const zh = (summary: LifecycleSummary['segments'], who: 'candidate' | 'champion') => summary![who]!.find((a) => a.attribute === 'language')!.segments.find((s) => s.segment === 'zh')!.metrics.accuracy;
    assert.ok(zh(second.segments, 'candidate') < zh(second.segments, 'champion'), 'the vendor batch hurt Chinese messages');
  });

  it('shows the report\'s counts with noise, says so, and keeps the exact ones in the evaluation record', async () => {
    const report = new TextDecoder().decode(await store.getBytes(store.keyOf(second.runReport)));
    const statement = report.match(/Differential privacy: the (\d+) counts in this report .* ε = 0\.5 each, so a row counted in all of them is protected at ε = ([\d.]+)\./);
    assert.ok(statement, 'the report states its privacy');
    assert.ok(Number(statement[1]) >= 6 && Math.abs(Number(statement[2]) - Number(statement[1]) * 0.5) < 1e-9, statement[0]);
    // With ε 0.5 a count keeps its exact value 25% of the time: across every segment of both attributes, some must move.
    const exact = second.segments!.candidate.flatMap((a) => a.segments.map((s) => ({ row: `| ${s.cases < second.segments!.minCases ? `${s.segment} \\*` : s.segment} | `, cases: s.cases })));
    const shown = exact.map(({ row, cases }) => ({ cases, shown: Number(report.match(new RegExp(`${row.replace(/[|]/g, '\\|')}(\\d+) \\|`))?.[1]) }));
    assert.ok(shown.every((s) => Number.isInteger(s.shown) && s.shown >= 0), JSON.stringify(shown));
    assert.ok(shown.some((s) => s.shown !== s.cases), `no count moved: ${JSON.stringify(shown)}`);
  });
});
