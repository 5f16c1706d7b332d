/**
 * The Fraud Detection Handbook's evaluation protocol: a training window, a delay period left
 * out (labels of its transactions are not known yet when the model is trained), and a test
 * window. Test transactions of cards already known to be compromised are removed, day by
 * day, as the handbook does: a card with a known fraud in the training window, or in the
 * delay period before a test day, is blocked and never reaches the model.
 */
import { z } from 'zod';

export const DAY_MS = 86_400_000;

export const RiskOptions = z
  .object({
    /** First day of the training window (YYYY-MM-DD, UTC). Default: the windows end on the last day of data. */
    trainStart: z.iso.date().optional(),
    trainDays: z.number().int().min(1).max(365).default(7),
    /** Days between training and test whose transactions are left out. */
    delayDays: z.number().int().min(0).max(90).default(7),
    testDays: z.number().int().min(1).max(90).default(7),
    /** The features' label delay: terminal risk counts the frauds of transactions at least this old. */
    labelDelayDays: z.number().int().min(0).max(90).default(7),
    /** Share of the training window's cards held out for early stopping and calibration. */
    validationShare: z.number().min(0.05).max(0.5).default(0.2),
    /** The share of transactions investigators review: precision and recall are reported at it. */
    reviewBudget: z.number().gt(0).max(1).default(0.01),
    /** Decisions from the calibrated probability: review at or above `review`, decline at or above `decline`. */
    decision: z
      .object({ review: z.number().min(0).max(1).default(0.2), decline: z.number().min(0).max(1).default(0.8) })
      .strict()
      .refine((d) => d.review <= d.decline, { message: 'review must not be above decline', path: ['review'] })
      .default({ review: 0.2, decline: 0.8 }),
  })
  .strict();
export type RiskOptions = z.output<typeof RiskOptions>;

export const SPLIT = { none: -1, train: 0, validation: 1, test: 2 } as const;

export interface Windows {
  trainStartDay: number;
  testStartDay: number;
  testEndDay: number;
}

export const dayOf = (timeMs: number) => Math.floor(timeMs / DAY_MS);
export const isoDay = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The windows in days since the epoch: the given start, or ending on the last day of data. */
export function windowsFor(options: RiskOptions, lastDataDay: number): Windows {
  const trainStartDay = options.trainStart ? dayOf(Date.parse(options.trainStart)) : lastDataDay - options.testDays - options.delayDays - options.trainDays + 1;
  const testStartDay = trainStartDay + options.trainDays + options.delayDays;
  return { trainStartDay, testStartDay, testEndDay: testStartDay + options.testDays - 1 };
}

/**
 * Which split each transaction is in. Training-window cards are split into train and
 * validation by a hash of the card (seeded), so a card's transactions stay together.
 */
export function assignSplits(
  day: Int32Array,
  card: Int32Array,
  label: Uint8Array,
  windows: Windows,
  options: RiskOptions,
  holdout: (card: number) => boolean,
): Int8Array {
  const { trainStartDay, testStartDay, testEndDay } = windows;
  const trainEndDay = trainStartDay + options.trainDays - 1;
  const split = new Int8Array(day.length).fill(SPLIT.none);
  const knownCompromised = new Set<number>();
  const fraudsByDay = new Map<number, Set<number>>();
  for (let i = 0; i < day.length; i++) {
    if (label[i] !== 1) continue;
    if (day[i] >= trainStartDay && day[i] <= trainEndDay) knownCompromised.add(card[i]);
    const cards = fraudsByDay.get(day[i]) ?? new Set<number>();
    cards.add(card[i]);
    fraudsByDay.set(day[i], cards);
  }
  // Test day d also knows the frauds of the delay period up to d - delay - 1 (the handbook's cumulative set).
  const blockedBy = new Map<number, Set<number>>();
  const blocked = new Set(knownCompromised);
  for (let d = testStartDay; d <= testEndDay; d++) {
    for (const c of fraudsByDay.get(d - options.delayDays - 1) ?? []) if (d - options.delayDays - 1 > trainEndDay) blocked.add(c);
    blockedBy.set(d, new Set(blocked));
  }
  for (let i = 0; i < day.length; i++) {
    if (day[i] >= trainStartDay && day[i] <= trainEndDay) split[i] = holdout(card[i]) ? SPLIT.validation : SPLIT.train;
    else if (day[i] >= testStartDay && day[i] <= testEndDay && !blockedBy.get(day[i])!.has(card[i])) split[i] = SPLIT.test;
  }
  return split;
}
