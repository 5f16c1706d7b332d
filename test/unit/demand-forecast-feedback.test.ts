import assert from 'node:assert/strict';
import { forecastFeedback } from '../../activities/model-kinds/demand-forecast/feedback';
import type { KindRuntime } from '../../activities/model-kinds/contract';
import type { PreprocessResult } from '../../schemas/steps';

describe('demand-forecast feedback', () => {
  it('joins served forecasts with posted actuals per version: online sMAPE, MASE and coverage (hand-computed)', () => {
    const rt = { ctx: { config: { options: {} } } } as unknown as KindRuntime;
    const walk = forecastFeedback.start(rt, {} as PreprocessResult, {} as never);
    const forecast = (version: string, week: number, step: number, p50: number) => ({ type: 'forecast', model_version: version, series_id: 's', week, step, p10: p50 - 1, p50, p90: p50 + 1, scale: 2, timestamp: 1_000 + week });
    walk.add(forecast('v1', 10, 1, 10));
    walk.add(forecast('v1', 11, 2, 10));
    walk.add(forecast('v2', 12, 1, 20));
    walk.add({ type: 'actual', model_version: 'v2', series_id: 's', week: 10, quantity: 10.5 });
    walk.add({ type: 'actual', model_version: 'v2', series_id: 's', week: 11, quantity: 14 });
    walk.endDay();
    const perVersion = walk.perVersion();
    assert.equal(perVersion.v1.requests, 1, 'one request (its first step) for v1');
    const m = perVersion.v1.metrics;
    assert.equal(m.matched, 2);
    // sMAPE: 200 * 0.5 / 20.5 and 200 * 4 / 24; MASE: (0.5 + 4) / 2 / 2; covered: week 10 only.
    assert.ok(Math.abs(m.smape - (100 / 20.5 + 800 / 24) / 2) < 1e-9);
    assert.ok(Math.abs(m.mase - 1.125) < 1e-9);
    assert.equal(m.coverage80, 0.5);
    assert.equal(perVersion.v2.metrics.matched, 0, 'no actual for week 12 yet');
    assert.equal(perVersion.v2.metrics.mase, undefined);
  });
});
