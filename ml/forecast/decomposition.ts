/**
 * A point forecast split into recent level, trend and seasonality, whatever method made it:
 * the forecaster's own seasonal adjustment (M4's multiplicative decomposition, the one every
 * statistical method forecasts through) and the smoothed level (SES) of the adjusted history.
 * For each step k, with s_k the seasonal factor of that week and L the level:
 *   season_k = p50_k - p50_k / s_k    (what reseasonalising adds; 0 when the series is not seasonal)
 *   trend_k  = p50_k / s_k - L        (what the method adds beyond holding the level flat)
 *   level    = L
 * so level + trend_k + season_k = p50_k exactly.
 */
import { fitEts, seasonalAdjustment } from './statistical';
import type { ForecasterConfig } from './forecaster';

export interface ForecastDecomposition {
  level: number;
  trend: Float64Array;
  season: Float64Array;
}

export function decomposeForecast(history: ArrayLike<number>, p50: ArrayLike<number>, seasonality: number): ForecastDecomposition {
  if (history.length === 0) throw new Error('a decomposition needs at least one observation');
  const { adjusted, outFactors } = seasonalAdjustment(history, p50.length, seasonality);
  const level = fitEts(adjusted, 'none').level;
  const deseasonalised = Float64Array.from(p50, (v, k) => v / outFactors[k]);
  return {
    level,
    trend: deseasonalised.map((v) => v - level),
    season: Float64Array.from(p50, (v, k) => v - deseasonalised[k]),
  };
}

/** The history a forecaster forecast from (its validation-chosen input): what its forecast's decomposition reads. */
export const modelInput = (config: Pick<ForecasterConfig, 'input'>, capped: ArrayLike<number>, original: ArrayLike<number>) => (config.input === 'original' ? original : capped);
