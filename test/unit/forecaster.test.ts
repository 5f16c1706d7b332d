import assert from 'node:assert/strict';
import { CANDIDATES, Forecaster, evaluateForecaster, trainForecaster } from '../../ml/forecast/forecaster';
import { ForecastHyperparameters } from '../../ml/forecast/global-mlp';
import { seededRng } from '../../ml/random';

function seasonalSeries(count: number, length: number, seed: number): number[][] {
  const rng = seededRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const level = 20 + 80 * rng();
    return Array.from({ length }, (_, t) => Math.max(0, level * (1 + 0.4 * Math.sin((2 * Math.PI * (t + i)) / 13)) + 3 * (rng() - 0.5)));
  });
}

describe('demand forecaster', () => {
  it('chooses the candidate with the best validation OWA, deterministically, and forecasts ordered quantiles', async () => {
    const horizon = 4;
    const full = seasonalSeries(12, 60, 5);
    const history = full.map((s) => s.slice(0, -horizon));
    const hp = ForecastHyperparameters.parse({ hiddenLayers: [16], epochs: 3, stepsPerEpoch: 5, batchSize: 32, lookbackHorizons: 4 });
    const trained = await trainForecaster({ hyperparameters: hp, horizon, seasonality: 1, minHistory: 8, values: history, originals: history });
    const scores = trained.config.validation;
    assert.deepEqual(Object.keys(scores).sort(), [...CANDIDATES].sort());
    const best = Math.min(...Object.values(scores).map((s) => s.owa));
    assert.equal(scores[trained.config.method].owa, best);
    assert.equal(scores.naive2.owa, 1);
    // Training is a function of the data and seed.
    const again = await trainForecaster({ hyperparameters: hp, horizon, seasonality: 1, minHistory: 8, values: history, originals: history });
    assert.equal(again.config.method, trained.config.method);
    assert.deepEqual(again.config.lowerOffsets, trained.config.lowerOffsets);
    again.mlp.dispose();

    const forecaster = new Forecaster(trained.config, trained.mlp);
    const [forecast, short] = forecaster.forecast([history[0], [5, 7]]);
    for (let k = 0; k < horizon; k++) assert.ok(forecast.p10[k] <= forecast.p50[k] && forecast.p50[k] <= forecast.p90[k]);
    assert.equal(short.method, 'fallback', 'a history under minHistory gets the fallback');
    assert.deepEqual([...short.p50], [6, 6, 6, 6], 'the mean of its last values');
    assert.throws(() => forecaster.forecast([history[0]], [history[0]], horizon + 1), /at most 4/);
    const evaluation = evaluateForecaster(forecaster, full.map((s) => ({ history: s.slice(0, -horizon), originalHistory: s.slice(0, -horizon), actual: s.slice(-horizon) })));
    assert.equal(evaluation.naive2.series, 12);
    assert.ok(evaluation.model.owa < 1, `seasonal data: the chosen model beats Naive2 (OWA ${evaluation.model.owa})`);
    // Segments score the same forecasts on subsets of the windows, each against Naive2 on its own series.
    const segmented = evaluateForecaster(forecaster, full.map((s) => ({ history: s.slice(0, -horizon), originalHistory: s.slice(0, -horizon), actual: s.slice(-horizon) })), { all: full.map((_, i) => i), firstHalf: [0, 1, 2, 3, 4, 5] });
    assert.equal(segmented.subsets.all.model.owa, evaluation.model.owa);
    assert.equal(segmented.subsets.firstHalf.series, 6);
    assert.ok(Number.isFinite(segmented.subsets.firstHalf.model.owa));
    forecaster.dispose();
  });
});
