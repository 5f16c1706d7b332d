/**
 * The demand-forecast protocol: weekly series, the last `horizon` weeks of each the test
 * window, the `horizon` weeks before it the validation window (model selection, early
 * stopping and interval calibration), everything earlier training data.
 */
import { z } from 'zod';

export const ForecastOptions = z
  .object({
    horizon: z.number().int().min(1).max(104).default(13),
    /** MASE's lag and Naive2's seasonal period; M4 takes weekly data with 1. */
    seasonality: z.number().int().min(1).max(366).default(1),
    /** Series with fewer values before their validation window are forecast by the fallback (and counted). Default: two horizons. */
    minHistory: z.number().int().min(2).max(10_000).optional(),
    /** A value more than this many robust standard deviations (1.4826 MAD) from its window's median is an outlier, capped there; 0 turns capping off. */
    outlierThreshold: z.number().min(0).max(100).default(5),
    /** Half-width of the centred window the outlier rule takes the median of. */
    outlierHalfWindow: z.number().int().min(1).max(52).default(6),
  })
  .strict()
  .transform((o) => ({ ...o, minHistory: o.minHistory ?? 2 * o.horizon }));
export type ForecastOptions = z.output<typeof ForecastOptions>;

export const SPLIT = { train: 0, validation: 1, test: 2 } as const;

export const DAY_MS = 86_400_000;
/** Weeks start on Monday (UTC). Day 0 (1970-01-01) was a Thursday. */
export const weekOfDay = (day: number) => Math.floor((day + 3) / 7);
export const weekOf = (timeMs: number) => weekOfDay(Math.floor(timeMs / DAY_MS));
export const weekStartMs = (week: number) => (week * 7 - 3) * DAY_MS;
export const isoWeekStart = (week: number) => new Date(weekStartMs(week)).toISOString().slice(0, 10);
