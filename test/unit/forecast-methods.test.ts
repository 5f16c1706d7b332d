import assert from 'node:assert/strict';
import { autocorrelations, damped, fitEts, holt, isSeasonal, multiplicativeSeasonalIndices, naive, seasonalNaive, ses, statisticalForecasts, theta } from '../../ml/forecast/statistical';
import { nelderMead } from '../../ml/forecast/nelder-mead';
import { seededRng } from '../../ml/random';

const close = (actual: number, expected: number, tolerance: number) => assert.ok(Math.abs(actual - expected) <= tolerance, `${actual} is not within ${tolerance} of ${expected}`);
const line = (n: number, intercept: number, slope: number) => Array.from({ length: n }, (_, t) => intercept + slope * (t + 1));

describe('M4 statistical benchmarks', () => {
  it('naive repeats the last value; seasonal naive the last season', () => {
    assert.deepEqual([...naive([1, 2, 3], 2)], [3, 3]);
    assert.deepEqual([...seasonalNaive([1, 2, 3, 4, 5, 6, 7, 8], 6, 4)], [5, 6, 7, 8, 5, 6]);
    assert.deepEqual([...seasonalNaive([1, 2, 3], 2, 1)], [3, 3], 'seasonality 1 is naive');
  });

  it('SES of a constant series forecasts the constant; Holt continues a line; damped bends it', () => {
    for (const v of ses(new Array(30).fill(7), 5)) close(v, 7, 1e-6);
    const y = line(40, 3, 2);
    holt(y, 5).forEach((v, k) => close(v, 3 + 2 * (41 + k), 0.05));
    const f = damped(y, 13);
    const steps = Array.from({ length: 12 }, (_, k) => f[k + 1] - f[k]);
    assert.ok(steps.every((s, k) => s > 0 && (k === 0 || s < steps[k - 1])), `damped increments shrink: ${steps}`);
    const fit = fitEts(y, 'damped');
    assert.ok(fit.phi >= 0.8 && fit.phi <= 0.98 && fit.beta <= fit.alpha, 'the fit stays within the usual bounds');
  });

  it('Theta on a line is half the trend line, half SES of the theta line', () => {
    const y = line(30, 5, 0.5);
    // The theta line equals the series; SES on it follows the last value (alpha at its bound).
    theta(y, 4).forEach((v, k) => close(v, 0.5 * y[29] + 0.5 * (5 + 0.5 * (31 + k)), 0.01));
    assert.ok(theta([5, 4, 3, 2, 1, 0.5, 0.2], 6).every((v) => v >= 0), 'Theta never forecasts below zero');
  });

  it('detect seasonality with M4\'s acf test and decompose multiplicatively', () => {
    const rng = seededRng(3);
    const factors = [0.8, 1.2, 1.1, 0.9];
    const seasonal = Array.from({ length: 48 }, (_, t) => 10 * factors[t % 4] * (1 + 0.01 * (rng() - 0.5)));
    assert.equal(isSeasonal(seasonal, 4), true);
    assert.equal(isSeasonal(Array.from({ length: 48 }, () => rng()), 4), false);
    assert.equal(isSeasonal(seasonal, 1), false, 'seasonality 1 is never seasonal');
    assert.equal(isSeasonal(seasonal.slice(0, 11), 4), false, 'shorter than three seasons');
    multiplicativeSeasonalIndices(seasonal, 4).forEach((f, i) => close(f, factors[i], 0.01));
    close(autocorrelations([1, 2, 3, 4], 1)[0], 0.25, 1e-12); // R: acf(1:4)$acf[2] = 0.25
    // Naive2 of a purely seasonal series is its last season.
    const naive2 = statisticalForecasts(seasonal, 4, 4, ['naive2']).naive2!;
    naive2.forEach((v, k) => close(v, seasonal[44 + k], 0.2));
  });

  it('floors forecasts of non-negative series at zero', () => {
    const falling = [9, 8, 6, 4, 3, 1, 0.5];
    for (const f of Object.values(statisticalForecasts(falling, 6, 1))) assert.ok(f!.every((v) => v >= 0));
  });

  it('Nelder-Mead finds the minimum of a bounded quadratic', () => {
    const { x } = nelderMead(([a, b]) => (a < 0 ? Infinity : (a - 0.3) ** 2 + 10 * (b + 2) ** 2), [0.5, 1], { steps: [0.1, 0.5] });
    close(x[0], 0.3, 1e-3);
    close(x[1], -2, 1e-3);
  });
});
