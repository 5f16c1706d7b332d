/**
 * Binary-classification metrics for fraud scoring. ROC AUC and average precision follow
 * scikit-learn exactly (curves over the distinct score thresholds, so tied scores count
 * as one operating point); card precision@k follows the Fraud Detection Handbook's
 * `card_precision_top_k` (Le Borgne et al., Reproducible Machine Learning for Credit Card
 * Fraud Detection, section 4.2). Computed in float64 on plain arrays, so the results do
 * not depend on the TensorFlow.js backend.
 */

export type Scores = Float32Array | Float64Array;

/** Cumulative true and false positives at each distinct score, highest score first. */
interface ThresholdCurve {
  thresholds: number[];
  truePositives: number[];
  falsePositives: number[];
  positives: number;
  negatives: number;
}

function checkInputs(labels: Uint8Array, scores: Scores): void {
  if (labels.length !== scores.length) throw new Error(`${labels.length} labels but ${scores.length} scores`);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 1) throw new Error(`label ${labels[i]} at row ${i} is not 0 or 1`);
    if (!Number.isFinite(scores[i])) throw new Error(`score ${scores[i]} at row ${i} is not finite`);
  }
}

/** Row indices ordered by decreasing score. */
function byDecreasingScore(scores: Scores): Uint32Array {
  const order = Uint32Array.from(scores.keys());
  return order.sort((a, b) => scores[b] - scores[a]);
}

function thresholdCurve(labels: Uint8Array, scores: Scores): ThresholdCurve {
  checkInputs(labels, scores);
  const order = byDecreasingScore(scores);
  const curve: ThresholdCurve = { thresholds: [], truePositives: [], falsePositives: [], positives: 0, negatives: 0 };
  let truePositives = 0;
  let falsePositives = 0;
  for (let rank = 0; rank < order.length; rank++) {
    const row = order[rank];
    if (labels[row] === 1) truePositives++;
    else falsePositives++;
    // A point only after the last row of a group of tied scores.
    if (rank === order.length - 1 || scores[order[rank + 1]] !== scores[row]) {
      curve.thresholds.push(scores[row]);
      curve.truePositives.push(truePositives);
      curve.falsePositives.push(falsePositives);
    }
  }
  curve.positives = truePositives;
  curve.negatives = falsePositives;
  return curve;
}

/**
 * Area under the ROC curve by the trapezoid rule over the distinct thresholds, as
 * sklearn's `roc_auc_score`: a positive and a negative with the same score count half a
 * correctly ordered pair. Undefined (throws, as sklearn does) without both classes.
 */
export function rocAuc(labels: Uint8Array, scores: Scores): number {
  const curve = thresholdCurve(labels, scores);
  if (curve.positives === 0 || curve.negatives === 0) throw new Error('ROC AUC needs both positive and negative labels');
  let area = 0;
  let previousTrue = 0;
  let previousFalse = 0;
  for (let i = 0; i < curve.thresholds.length; i++) {
    const tpr = curve.truePositives[i] / curve.positives;
    const fpr = curve.falsePositives[i] / curve.negatives;
    area += ((fpr - previousFalse) * (tpr + previousTrue)) / 2;
    previousTrue = tpr;
    previousFalse = fpr;
  }
  return area;
}

/**
 * sklearn's `average_precision_score`: the sum over distinct thresholds, highest first,
 * of (R_n - R_{n-1}) P_n, with no interpolation. sklearn returns 0 with a warning when
 * there are no positives; here that throws, since a silent 0 would look like a real score
 * to early stopping.
 */
export function averagePrecision(labels: Uint8Array, scores: Scores): number {
  const curve = thresholdCurve(labels, scores);
  if (curve.positives === 0) throw new Error('average precision needs at least one positive label');
  let sum = 0;
  let previousRecall = 0;
  for (let i = 0; i < curve.thresholds.length; i++) {
    const recall = curve.truePositives[i] / curve.positives;
    const precision = curve.truePositives[i] / (curve.truePositives[i] + curve.falsePositives[i]);
    sum += (recall - previousRecall) * precision;
    previousRecall = recall;
  }
  return sum;
}

export interface CardTransactions {
  /** Day index of each transaction (the handbook's TX_TIME_DAYS). */
  day: Int32Array;
  /** Card (the handbook's CUSTOMER_ID) of each transaction. */
  card: Int32Array;
  labels: Uint8Array;
  scores: Scores;
}

export interface CardPrecisionOptions {
  /**
   * Remove each day's detected compromised cards (fraudulent cards in its top k) from the
   * following days, as the handbook does by default: a detected card is blocked, so its
   * later transactions never reach the investigators. Default true.
   */
  removeDetectedCards?: boolean;
  /** Cards already known to be compromised before the first day (e.g. in the training period); left out of every day. */
  knownCompromisedCards?: Iterable<number>;
}

export interface CardPrecisionDay {
  day: number;
  /** Detected compromised cards / k: a day with fewer than k cards cannot reach 1. */
  precision: number;
  /** Cards with a fraudulent transaction that day, after removing already detected cards. */
  compromisedCards: number;
  detectedCards: number[];
}

/**
 * The handbook's card precision top-k, day by day in increasing day order: each card's
 * score for the day is the maximum over its transactions and its label the maximum of
 * theirs; the k cards with the highest scores are the day's alerts, and the precision is
 * the number of compromised cards among them divided by k (not by the number of alerts, so
 * a day with fewer than k cards is penalised exactly as in the handbook). Every day present
 * in `day` counts, also one whose cards were all removed (precision 0). The handbook sorts
 * with pandas' unstable default sort, which leaves ties unspecified; here cards with equal
 * scores are ranked by increasing card id, so the result is deterministic.
 */
export function cardPrecisionAtKByDay(transactions: CardTransactions, k = 100, options: CardPrecisionOptions = {}): CardPrecisionDay[] {
  const { day, card, labels, scores } = transactions;
  if (day.length !== labels.length || card.length !== labels.length) throw new Error('day, card, labels and scores must have one entry per transaction');
  checkInputs(labels, scores);
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a positive integer, got ${k}`);
  const removed = new Set(options.knownCompromisedCards ?? []);
  const rowsByDay = new Map<number, number[]>();
  for (let row = 0; row < day.length; row++) {
    const rows = rowsByDay.get(day[row]);
    if (rows) rows.push(row);
    else rowsByDay.set(day[row], [row]);
  }
  const days: CardPrecisionDay[] = [];
  for (const d of [...rowsByDay.keys()].sort((a, b) => a - b)) {
    const cards = new Map<number, { score: number; compromised: boolean }>();
    for (const row of rowsByDay.get(d)!) {
      if (removed.has(card[row])) continue;
      const seen = cards.get(card[row]);
      if (!seen) cards.set(card[row], { score: scores[row], compromised: labels[row] === 1 });
      else {
        seen.score = Math.max(seen.score, scores[row]);
        seen.compromised ||= labels[row] === 1;
      }
    }
    const ranked = [...cards].sort(([cardA, a], [cardB, b]) => b.score - a.score || cardA - cardB);
    const detectedCards = ranked
      .slice(0, k)
      .filter(([, c]) => c.compromised)
      .map(([id]) => id);
    const compromisedCards = ranked.filter(([, c]) => c.compromised).length;
    days.push({ day: d, precision: detectedCards.length / k, compromisedCards, detectedCards });
    if (options.removeDetectedCards ?? true) for (const id of detectedCards) removed.add(id);
  }
  return days;
}

/** The mean over days of `cardPrecisionAtKByDay`: the handbook's mean card precision top-k. */
export function cardPrecisionAtK(transactions: CardTransactions, k = 100, options: CardPrecisionOptions = {}): number {
  const days = cardPrecisionAtKByDay(transactions, k, options);
  if (days.length === 0) throw new Error('card precision@k needs at least one transaction');
  return days.reduce((sum, d) => sum + d.precision, 0) / days.length;
}

export interface BudgetOperatingPoint {
  precision: number;
  recall: number;
  /** Transactions scoring at least this are reviewed. */
  threshold: number;
  /** How many transactions that threshold sends to review. */
  reviewed: number;
}

/**
 * Precision and recall when investigators review a `budget` share of the transactions
 * (0.01 = the top 1%). The threshold is the score of the floor(budget * n)-th highest
 * transaction (at least one), and every transaction scoring at least the threshold is
 * reviewed, as a deployed score threshold would do: ties at the threshold can make
 * `reviewed` exceed the budget, never fall short of it.
 */
export function precisionRecallAtBudget(labels: Uint8Array, scores: Scores, budget: number): BudgetOperatingPoint {
  checkInputs(labels, scores);
  if (!(budget > 0 && budget <= 1)) throw new Error(`budget must be in (0, 1], got ${budget}`);
  if (labels.length === 0) throw new Error('precision at a budget needs at least one transaction');
  const order = byDecreasingScore(scores);
  // The epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 at 29.
  const capacity = Math.max(1, Math.floor(budget * labels.length + 1e-9));
  const threshold = scores[order[capacity - 1]];
  let reviewed = 0;
  let caught = 0;
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    positives += labels[i];
    if (scores[i] >= threshold) {
      reviewed++;
      caught += labels[i];
    }
  }
  // Recall without positives is 0, as sklearn's recall_score reports it.
  return { precision: caught / reviewed, recall: positives === 0 ? 0 : caught / positives, threshold, reviewed };
}
