/** The handbook's metrics on a split: AUC-ROC, average precision (primary), card precision@100, and precision and recall at the review budget. */
import { averagePrecision, cardPrecisionAtK, precisionRecallAtBudget, rocAuc } from '../../../ml/tabular/metrics';
import { segmentBy, tierBoundaries, tierOf } from '../../fairness';
import type { MetricSpec } from '../contract';
import type { Metrics, SegmentAttribute } from '../../../schemas/steps';
import type { SplitRows } from './prepare';

export const CARD_PRECISION_K = 100;

export const RISK_METRICS: MetricSpec[] = [
  { name: 'ap', label: 'average precision', direction: 'higher', format: 'ratio' },
  { name: 'auc', label: 'AUC-ROC', direction: 'higher', format: 'ratio' },
  { name: `cardPrecision@${CARD_PRECISION_K}`, label: `card precision@${CARD_PRECISION_K}`, direction: 'higher', format: 'ratio' },
  { name: 'precisionAtBudget', label: 'precision at review budget', direction: 'higher', format: 'ratio' },
  { name: 'recallAtBudget', label: 'recall at review budget', direction: 'higher', format: 'ratio' },
];

export function riskMetrics(rows: Pick<SplitRows, 'y' | 'day' | 'card'>, scores: Float32Array, reviewBudget: number): Metrics {
  const atBudget = precisionRecallAtBudget(rows.y, scores, reviewBudget);
  return {
    ap: averagePrecision(rows.y, scores),
    auc: rocAuc(rows.y, scores),
    [`cardPrecision@${CARD_PRECISION_K}`]: cardPrecisionAtK({ day: rows.day, card: rows.card, labels: rows.y, scores }, CARD_PRECISION_K),
    precisionAtBudget: atBudget.precision,
    recallAtBudget: atBudget.recall,
  };
}

export const RISK_SEGMENTS = [
  { name: 'spending', label: "customer's spending tier" },
  { name: 'tenure', label: 'new vs established customer' },
] as const;

const SPENDING_TIERS = ['low', 'mid', 'high'];
const TENURE = ['new', 'established'];

/** The customer features over the longest window computed (their names carry the window in days). */
function longestCustomerWindow(names: readonly string[]): { count: number; meanAmount: number } {
  const days = names.flatMap((n) => /^customer_nb_tx_(\d+)d$/.exec(n)?.[1] ?? []).map(Number);
  const longest = Math.max(...days);
  return { count: names.indexOf(`customer_nb_tx_${longest}d`), meanAmount: names.indexOf(`customer_avg_amount_${longest}d`) };
}

/** Share of genuine transactions that `flagged` sends to review or declines: good customers bothered. */
export function falsePositiveRate(y: ArrayLike<number>, flagged: (row: number) => boolean, rows: readonly number[]): number {
  const genuine = rows.filter((r) => y[r] === 0);
  return genuine.length === 0 ? Number.NaN : genuine.filter(flagged).length / genuine.length;
}

/**
 * The test rows by the customer's spending tier (terciles of the training rows' mean amount
 * over the longest window) and by tenure ("new": fewer transactions over that window than
 * the training rows' first decile). Each segment has the kind's metrics plus `falsePositiveRate`
 * at the version's review threshold.
 */
export function riskSegments(train: SplitRows, test: SplitRows, scores: Float32Array, reviewBudget: number, reviewThreshold: number): SegmentAttribute[] {
  const width = test.names.length;
  const column = longestCustomerWindow(test.names);
  if (column.count < 0 || column.meanAmount < 0) return [];
  const valueOf = (rows: SplitRows, row: number, index: number) => rows.x[row * width + index];
  const trainingValues = (index: number) => Array.from({ length: train.y.length }, (_, r) => valueOf(train, r, index));
  const spending = tierBoundaries(trainingValues(column.meanAmount), SPENDING_TIERS.length);
  const [firstDecile] = tierBoundaries(trainingValues(column.count), 10);
  const metricsOf = (rows: number[]): Metrics => {
    const pick = <T extends Float32Array | Uint8Array | Int32Array>(values: T) => values.filter((_, i) => members.has(i)) as T;
    const members = new Set(rows);
    const subset = { y: pick(test.y), day: pick(test.day), card: pick(test.card) };
    const fpr = { falsePositiveRate: falsePositiveRate(test.y, (r) => scores[r] >= reviewThreshold, rows) };
    // A segment without a fraud (or without a genuine one) has no ranking metrics; the disparity leaves it out.
    const bothClasses = subset.y.includes(1) && subset.y.includes(0);
    return bothClasses ? { ...riskMetrics(subset, pick(scores), reviewBudget), ...fpr } : fpr;
  };
  const rows = Array.from(test.y.keys());
  return [
    { ...RISK_SEGMENTS[0], rows: segmentBy(rows, (r) => tierOf(valueOf(test, r, column.meanAmount), spending, SPENDING_TIERS), metricsOf, SPENDING_TIERS) },
    { ...RISK_SEGMENTS[1], rows: segmentBy(rows, (r) => (valueOf(test, r, column.count) < firstDecile ? TENURE[0] : TENURE[1]), metricsOf, TENURE) },
  ].map(({ name, label, rows: segments }) => ({ attribute: name, label, segments }));
}
