import assert from 'node:assert/strict';
import { assignSplits, dayOf, isoDay, RiskOptions, SPLIT, windowsFor } from '../../activities/model-kinds/transaction-risk/protocol';
import { decide } from '../../activities/model-kinds/transaction-risk/serving';

const day = (iso: string) => dayOf(Date.parse(iso));

describe('transaction-risk protocol', () => {
  it("places the handbook's windows: train 2018-07-25 +7 days, delay 7, test 2018-08-08 .. 2018-08-14", () => {
    const w = windowsFor(RiskOptions.parse({ trainStart: '2018-07-25' }), day('2018-09-30'));
    assert.deepEqual([isoDay(w.trainStartDay), isoDay(w.testStartDay), isoDay(w.testEndDay)], ['2018-07-25', '2018-08-08', '2018-08-14']);
    const latest = windowsFor(RiskOptions.parse({}), day('2018-09-30'));
    assert.equal(isoDay(latest.testEndDay), '2018-09-30', 'without a start the test window ends on the last day of data');
  });

  it('holds out cards for validation and removes cards known to be compromised from each test day', () => {
    const options = RiskOptions.parse({ trainStart: '2018-07-25' });
    const w = windowsFor(options, day('2018-09-30'));
    // [day, card, label]: card 1 defrauded in training; card 2 defrauded on the first delay day,
    // which is known from the second test day on; card 3 never; card 9 held out.
    const rows: [string, number, number][] = [
      ['2018-07-26', 1, 1], ['2018-07-27', 3, 0], ['2018-07-28', 9, 0], ['2018-08-01', 2, 1],
      ['2018-08-08', 1, 0], ['2018-08-08', 2, 0], ['2018-08-09', 2, 0], ['2018-08-09', 3, 1], ['2018-08-20', 3, 0],
    ];
    const split = assignSplits(
      Int32Array.from(rows, ([d]) => day(d)),
      Int32Array.from(rows, ([, c]) => c),
      Uint8Array.from(rows, ([, , l]) => l),
      w,
      options,
      (card) => card === 9,
    );
    assert.deepEqual(Array.from(split), [SPLIT.train, SPLIT.train, SPLIT.validation, SPLIT.none, SPLIT.none, SPLIT.test, SPLIT.none, SPLIT.test, SPLIT.none]);
  });

  it('decides by the calibrated probability against the configured thresholds', () => {
    const { decision } = RiskOptions.parse({});
    assert.deepEqual([0.05, 0.2, 0.5, 0.8, 0.99].map((p) => decide(p, decision)), ['approve', 'review', 'review', 'decline', 'decline']);
    assert.throws(() => RiskOptions.parse({ decision: { review: 0.9, decline: 0.5 } }), /review must not be above decline/);
  });
});
