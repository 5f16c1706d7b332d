/** The handbook's metrics on a split: AUC-ROC, average precision (primary), card precision@100, and precision and recall at the review budget. */
import { averagePrecision, cardPrecisionAtK, precisionRecallAtBudget, rocAuc } from '../../../ml/tabular/metrics';
import type { MetricSpec } from '../contract';
import type { Metrics } from '../../../schemas/steps';
import type { SplitRows } from './prepare';

export const CARD_PRECISION_K = 100;

export const RISK_METRICS: MetricSpec[] = [
  { name: 'ap', label: 'average precision', direction: 'higher', format: 'ratio' },
  { name: 'auc', label: 'AUC-ROC', direction: 'higher', format: 'ratio' },
  { name: `cardPrecision@${CARD_PRECISION_K}`, label: `card precision@${CARD_PRECISION_K}`, direction: 'higher', format: 'ratio' },
  { name: 'precisionAtBudget', label: 'precision at review budget', direction: 'higher', format: 'ratio' },
  { name: 'recallAtBudget', label: 'recall at review budget', direction: 'higher', format: 'ratio' },
];

export function riskMetrics(rows: SplitRows, scores: Float32Array, reviewBudget: number): Metrics {
  const atBudget = precisionRecallAtBudget(rows.y, scores, reviewBudget);
  return {
    ap: averagePrecision(rows.y, scores),
    auc: rocAuc(rows.y, scores),
    [`cardPrecision@${CARD_PRECISION_K}`]: cardPrecisionAtK({ day: rows.day, card: rows.card, labels: rows.y, scores }, CARD_PRECISION_K),
    precisionAtBudget: atBudget.precision,
    recallAtBudget: atBudget.recall,
  };
}
