/**
 * The M4 competition's accuracy measures, as its evaluation code (M4-methods, "Benchmarks
 * and Evaluation.R") computes them:
 *
 *   sMAPE  = mean over the horizon of 200 |y - f| / (|y| + |f|)
 *   MASE   = mean over the horizon of |y - f| / scale, scale = mean |x_t - x_{t-m}| over the in-sample x
 *   OWA    = (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) / 2, each measure averaged over every series and step first
 *   MSIS   = mean over the horizon of ((U - L) + (2/a)(L - y)[y < L] + (2/a)(y - U)[y > U]) / scale
 *
 * M4 scored 95% intervals (a = 0.05); we score the 80% interval p10..p90, so a = 0.2.
 * One departure, for intermittent store sales M4 never had: a step where actual and forecast
 * are both zero has sMAPE 0 (M4's formula is 0/0 there).
 */

/** sMAPE of one step, in percent (0..200). */
export function smapeTerm(actual: number, forecast: number): number {
  const denominator = Math.abs(actual) + Math.abs(forecast);
  return denominator === 0 ? 0 : (200 * Math.abs(actual - forecast)) / denominator;
}

/** MASE's in-sample scale: the mean absolute seasonal-naive error of the history (NaN when it has no lag-m pair). */
export function maseScale(insample: ArrayLike<number>, seasonality: number): number {
  let sum = 0;
  let count = 0;
  for (let t = seasonality; t < insample.length; t++) {
    sum += Math.abs(insample[t] - insample[t - seasonality]);
    count++;
  }
  return count === 0 ? Number.NaN : sum / count;
}

/** MSIS's term of one step for the interval [lower, upper] at level 1 - a, before dividing by the scale. */
export function intervalScoreTerm(actual: number, lower: number, upper: number, a: number): number {
  return upper - lower + (actual < lower ? (2 / a) * (lower - actual) : 0) + (actual > upper ? (2 / a) * (actual - upper) : 0);
}

export interface SeriesForecast {
  insample: ArrayLike<number>;
  actual: ArrayLike<number>;
  point: ArrayLike<number>;
  /** The interval bounds, when the method has them. */
  lower?: ArrayLike<number>;
  upper?: ArrayLike<number>;
}

export interface AccuracySums {
  smape: number;
  mase: number;
  msis: number;
  covered: number;
  /** Steps scored for sMAPE, MASE and MSIS (series with a zero scale are left out of both) and interval coverage. */
  steps: number;
  maseSteps: number;
  intervalSteps: number;
  msisSteps: number;
  series: number;
  zeroScaleSeries: number;
}

export interface Accuracy {
  smape: number;
  mase: number;
  /** Share of actuals inside [lower, upper]; NaN without intervals. */
  coverage: number;
  msis: number;
  series: number;
  zeroScaleSeries: number;
}

/** Sums over many series, so the means are over every series and step as M4 takes them. */
export class AccuracyAccumulator {
  private readonly sums: AccuracySums = { smape: 0, mase: 0, msis: 0, covered: 0, steps: 0, maseSteps: 0, intervalSteps: 0, msisSteps: 0, series: 0, zeroScaleSeries: 0 };

  constructor(
    private readonly seasonality: number,
    /** 1 - the interval's nominal coverage: 0.2 for p10..p90. */
    private readonly intervalAlpha = 0.2,
  ) {}

  add({ insample, actual, point, lower, upper }: SeriesForecast): void {
    if (point.length < actual.length) throw new Error(`a forecast of ${point.length} steps cannot be scored against ${actual.length} actuals`);
    const scale = maseScale(insample, this.seasonality);
    const scalable = Number.isFinite(scale) && scale > 0;
    const s = this.sums;
    s.series++;
    if (!scalable) s.zeroScaleSeries++;
    for (let k = 0; k < actual.length; k++) {
      s.smape += smapeTerm(actual[k], point[k]);
      s.steps++;
      if (scalable) {
        s.mase += Math.abs(actual[k] - point[k]) / scale;
        s.maseSteps++;
      }
      if (lower && upper) {
        s.covered += actual[k] >= lower[k] && actual[k] <= upper[k] ? 1 : 0;
        s.intervalSteps++;
        if (scalable) {
          s.msis += intervalScoreTerm(actual[k], lower[k], upper[k], this.intervalAlpha) / scale;
          s.msisSteps++;
        }
      }
    }
  }

  result(): Accuracy {
    const s = this.sums;
    return {
      smape: s.smape / s.steps,
      mase: s.mase / s.maseSteps,
      coverage: s.intervalSteps > 0 ? s.covered / s.intervalSteps : Number.NaN,
      msis: s.msisSteps > 0 ? s.msis / s.msisSteps : Number.NaN,
      series: s.series,
      zeroScaleSeries: s.zeroScaleSeries,
    };
  }
}

/** Overall Weighted Average relative to Naive2's sMAPE and MASE on the same series and steps. */
export function owa(method: { smape: number; mase: number }, naive2: { smape: number; mase: number }): number {
  return (method.smape / naive2.smape + method.mase / naive2.mase) / 2;
}
