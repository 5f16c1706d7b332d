import assert from 'node:assert/strict';
import { capOutliers, prepareSeries, seriesFromTable, seriesTable, weeklySeries } from '../../activities/model-kinds/demand-forecast/prepare';
import { ForecastOptions, SPLIT, weekOf, weekStartMs } from '../../activities/model-kinds/demand-forecast/protocol';
import { parseRawFile } from '../../activities/collect/raw-files';
import { salesSource, seriesSource } from '../../activities/model-kinds/demand-forecast/sources';
import { syntheticSalesFiles } from '../../activities/model-kinds/demand-forecast/synthetic';

const DAY = 86_400_000;
const MONDAY = Date.UTC(2026, 0, 5);

describe('demand-forecast preprocessing', () => {
  it('aggregates sales into Monday weeks per item and category, fills missing weeks with zero, drops the incomplete last week', () => {
    const week = weekOf(MONDAY);
    assert.equal(weekStartMs(week), MONDAY);
    assert.equal(weekOf(MONDAY + 6 * DAY + DAY - 1), week, 'Sunday night is the same week');
    const byItem = new Map([
      ['a', new Map([[week, 3], [week + 2, 1]])],
      ['b', new Map([[week + 1, 5]])],
    ]);
    // The last sale is on a Wednesday: that week is incomplete and left out.
    const series = weeklySeries({ byItem, categoryOf: new Map([['a', 'toys'], ['b', 'toys']]), lastDay: Math.floor((MONDAY + (3 * 7 + 2) * DAY) / DAY) });
    const byId = new Map(series.map((s) => [s.id, s]));
    assert.deepEqual(byId.get('a')!.values, [3, 0, 1]);
    assert.deepEqual(byId.get('b')!.values, [5, 0]);
    assert.equal(byId.get('b')!.firstWeek, week + 1);
    assert.deepEqual(byId.get('category:toys')!.values, [3, 5, 1]);
    assert.equal(byId.get('category:toys')!.level, 'category');
  });

  it('flags and caps an isolated spike, keeps the original, and leaves flat, intermittent and recent values alone', () => {
    const values = [10, 11, 9, 10, 12, 10, 100, 11, 9, 10, 11, 10, 9, 10, 11, 10, 60];
    const { capped, outlier } = capOutliers(values, values.length, 5, 6);
    assert.deepEqual([...outlier.keys()].filter((t) => outlier[t] === 1), [6]);
    assert.ok(capped[6] < 20 && capped[6] > 11, `capped at median + 5 robust sd: ${capped[6]}`);
    assert.equal(values[6], 100, 'the input is untouched');
    assert.equal(outlier[16], 0, 'the last half-window cannot tell a spike from a level shift');
    const intermittent = [0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert.equal(capOutliers(intermittent, intermittent.length, 5, 6).outlier.reduce((a, b) => a + b, 0), 0);
    assert.equal(capOutliers(values, values.length, 0, 6).outlier.reduce((a, b) => a + b, 0), 0, 'threshold 0 turns capping off');
    const beforeTest = capOutliers([...values.slice(0, 10), 1000, 10, 10], 10, 5, 3);
    assert.equal(beforeTest.outlier[10], 0, 'the test window is never looked at');
  });

  it('cuts the last horizon as test and the horizon before as validation, marks short series, and round-trips the artifact', () => {
    const options = ForecastOptions.parse({ horizon: 4 });
    assert.equal(options.minHistory, 8, 'two horizons by default');
    const prepared = prepareSeries(
      [
        { id: 'long', level: 'series', category: null, firstWeek: null, values: Array.from({ length: 20 }, (_, t) => t) },
        { id: 'short', level: 'item', category: 'x', firstWeek: 2900, values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
      ],
      options,
    );
    const count = (split: Int8Array, s: number) => split.filter((v) => v === s).length;
    assert.deepEqual([SPLIT.train, SPLIT.validation, SPLIT.test].map((s) => count(prepared[0].split, s)), [12, 4, 4]);
    assert.equal(prepared[0].short, false);
    assert.equal(prepared[1].short, true, '10 - 2 x 4 < 8');
    const back = seriesFromTable(seriesTable(prepared), options);
    assert.deepEqual(back.map((s) => [s.id, s.firstWeek, s.short, s.original.length]), [['long', null, false, 20], ['short', 2900, true, 10]]);
    assert.deepEqual([...back[0].split], [...prepared[0].split]);
  });

  it('validates sales rows (quantity defaults to 1) and M4-layout series rows, naming the field', async () => {
    const sales = await parseRawFile('s.csv', Buffer.from('item_id,timestamp,quantity,price,event_type\n1,2026-01-05T10:00:00Z,,3,\n2,2026-01-05T10:00:00Z,-2,,purchase\n'), salesSource.row, salesSource.required);
    assert.equal(sales.rows[0].quantity, 1);
    assert.equal(sales.rows[0].event_type, 'purchase');
    assert.deepEqual(sales.problems.map((p) => [p.row, p.field]), [[2, 'quantity']]);
    const series = await parseRawFile('train.csv', Buffer.from('"V1","V2","V3","V4"\n"W1","1","2","3"\n"W2","4","",""\n"W3","1","","3"\n"W4","x","1",""\n'), seriesSource.row, seriesSource.required);
    assert.deepEqual(series.rows, [{ series_id: 'W1', values: [1, 2, 3] }, { series_id: 'W2', values: [4] }]);
    assert.deepEqual(series.problems.map((p) => [p.row, p.field]), [[3, 'V4'], [4, 'V2']]);
  });

  it('the embedded sales are deterministic and long enough for the protocol', () => {
    const [a, b] = [syntheticSalesFiles(), syntheticSalesFiles()];
    assert.deepEqual(a.map((f) => f.body), b.map((f) => f.body));
    const days = a.flatMap((f) => String(f.body).trim().split('\n').slice(1).map((line) => Date.parse(line.split(',')[1])));
    assert.ok((Math.max(...days) - Math.min(...days)) / (7 * DAY) > 2 * 13 + 26, 'more than minHistory + validation + test weeks');
  });
});
