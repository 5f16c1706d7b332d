import assert from 'node:assert/strict';
import { averagePrecision, cardPrecisionAtK, cardPrecisionAtKByDay, precisionRecallAtBudget, rocAuc } from '../../ml/tabular/metrics';
import { seededRng } from '../../ml/random';

const labelsOf = (values: number[]) => Uint8Array.from(values);
const scoresOf = (values: number[]) => Float64Array.from(values);

/** P(score of a random positive > that of a random negative), ties counting half: what ROC AUC equals. */
function pairwiseAuc(labels: Uint8Array, scores: Float64Array): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

describe('tabular metrics', () => {
  it("match sklearn's documented example (average_precision_score and roc_auc_score)", () => {
    const labels = labelsOf([0, 0, 1, 1]);
    const scores = scoresOf([0.1, 0.4, 0.35, 0.8]);
    assert.ok(Math.abs(averagePrecision(labels, scores) - 0.8333333333333333) < 1e-12);
    assert.ok(Math.abs(rocAuc(labels, scores) - 0.75) < 1e-12);
  });

  it('treat tied scores as one threshold, as sklearn does', () => {
    // Thresholds 0.9 (1 TP, 1 FP), 0.5 (3 TP, 2 FP), 0.1 (3 TP, 3 FP), with 3 positives:
    // AP = 1/3 * 1/2 + 2/3 * 3/5 = 17/30; ROC points (1/3, 1/3), (2/3, 1), (1, 1): AUC = 11/18.
    const labels = labelsOf([1, 0, 1, 0, 1, 0]);
    const scores = scoresOf([0.9, 0.9, 0.5, 0.5, 0.5, 0.1]);
    assert.ok(Math.abs(averagePrecision(labels, scores) - 17 / 30) < 1e-12, `AP ${averagePrecision(labels, scores)}`);
    assert.ok(Math.abs(rocAuc(labels, scores) - 11 / 18) < 1e-12, `AUC ${rocAuc(labels, scores)}`);
    // sklearn's test_average_precision_score_tied_values: 1/2 * 1 + 1/2 * 2/3.
    assert.ok(Math.abs(averagePrecision(labelsOf([0, 1, 1]), scoresOf([0.5, 0.5, 0.6])) - 5 / 6) < 1e-12);
    // One threshold for everything: AUC 1/2 and AP the positive rate.
    const constant = new Float64Array(8).fill(0.3);
    const mixed = labelsOf([1, 0, 0, 1, 0, 0, 0, 0]);
    assert.equal(rocAuc(mixed, constant), 0.5);
    assert.equal(averagePrecision(mixed, constant), 0.25);
  });

  it('ROC AUC equals the pairwise win rate with ties counting half, on random scores with many ties', () => {
    const rng = seededRng('auc');
    const labels = Uint8Array.from({ length: 400 }, () => (rng() < 0.1 ? 1 : 0));
    const scores = Float64Array.from(labels, (y) => Math.round((rng() + 0.3 * y) * 10) / 10);
    assert.ok(Math.abs(rocAuc(labels, scores) - pairwiseAuc(labels, scores)) < 1e-12);
  });

  it('are invariant to monotone transforms of the scores and reach 1 for a perfect ranking', () => {
    const rng = seededRng('monotone');
    const labels = Uint8Array.from({ length: 300 }, () => (rng() < 0.05 ? 1 : 0));
    const scores = Float64Array.from(labels, (y) => Math.floor((rng() + 0.5 * y) * 20));
    const squashed = scores.map((s) => 1 / (1 + Math.exp(-s / 7)));
    assert.ok(Math.abs(averagePrecision(labels, scores) - averagePrecision(labels, squashed)) < 1e-12);
    assert.ok(Math.abs(rocAuc(labels, scores) - rocAuc(labels, squashed)) < 1e-12);
    const perfect = Float64Array.from(labels, (y, i) => y + i * 1e-6);
    assert.equal(averagePrecision(labels, perfect), 1);
    assert.equal(rocAuc(labels, perfect), 1);
  });

  it('refuse inputs where they are undefined', () => {
    assert.throws(() => rocAuc(labelsOf([1, 1]), scoresOf([0.2, 0.3])), /both positive and negative/);
    assert.throws(() => averagePrecision(labelsOf([0, 0]), scoresOf([0.2, 0.3])), /at least one positive/);
    assert.throws(() => averagePrecision(labelsOf([0, 1]), scoresOf([0.2, NaN])), /not finite/);
    assert.throws(() => rocAuc(labelsOf([0, 2]), scoresOf([0.2, 0.3])), /not 0 or 1/);
  });

  describe('card precision@k (Fraud Detection Handbook)', () => {
    // Rows deliberately out of day order. Day 1: card 1 max 0.9 and compromised (its fraud
    // scored only 0.2), card 2 0.8 genuine, card 3 0.7 compromised. Day 2: card 1 again, card
    // 3 0.6 compromised, card 4 0.6 genuine, card 5 0.1 compromised. Day 5: card 3 only.
    const transactions = {
      day: Int32Array.from([2, 1, 1, 1, 1, 2, 2, 2, 5]),
      card: Int32Array.from([1, 1, 1, 2, 3, 3, 4, 5, 3]),
      labels: labelsOf([1, 0, 1, 0, 1, 1, 0, 1, 1]),
      scores: scoresOf([0.95, 0.9, 0.2, 0.8, 0.7, 0.6, 0.6, 0.1, 0.3]),
    };

    it("removes cards detected on earlier days from later days, as the handbook's default does", () => {
      const days = cardPrecisionAtKByDay(transactions, 2);
      // Day 1 alerts cards 1 and 2 (1 detected); day 2 without card 1 alerts 3 and 4 (3
      // detected); day 5's only card, 3, is blocked by then, so the day scores 0 and counts.
      assert.deepEqual(days, [
        { day: 1, precision: 0.5, compromisedCards: 2, detectedCards: [1] },
        { day: 2, precision: 0.5, compromisedCards: 2, detectedCards: [3] },
        { day: 5, precision: 0, compromisedCards: 0, detectedCards: [] },
      ]);
      assert.ok(Math.abs(cardPrecisionAtK(transactions, 2) - 1 / 3) < 1e-12);
    });

    it('without removal, scores each day on all of its cards and divides by k even when a day has fewer cards', () => {
      const days = cardPrecisionAtKByDay(transactions, 2, { removeDetectedCards: false });
      assert.deepEqual(days.map((d) => d.precision), [0.5, 1, 0.5]);
      assert.ok(Math.abs(cardPrecisionAtK(transactions, 2, { removeDetectedCards: false }) - 2 / 3) < 1e-12);
    });

    it('leaves out cards known to be compromised beforehand, and ranks tied cards by card id', () => {
      const days = cardPrecisionAtKByDay(transactions, 1, { knownCompromisedCards: [1] });
      // Day 1: card 2 (0.8) beats card 3; day 2: cards 3 and 4 tie at 0.6 and card 3 wins the tie.
      assert.deepEqual(days.map((d) => d.detectedCards), [[], [3], []]);
      const tied = { day: Int32Array.from([0, 0]), card: Int32Array.from([7, 2]), labels: labelsOf([1, 0]), scores: scoresOf([0.5, 0.5]) };
      assert.equal(cardPrecisionAtK(tied, 1), 0);
    });
  });

  it('precision and recall at a review budget, with ties at the threshold all reviewed', () => {
    const labels = labelsOf([1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    const scores = scoresOf([0.9, 0.8, 0.3, 0.2, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01]);
    assert.deepEqual(precisionRecallAtBudget(labels, scores, 0.2), { precision: 0.5, recall: 1 / 3, threshold: 0.8, reviewed: 2 });
    assert.deepEqual(precisionRecallAtBudget(labels, scores, 0.3), { precision: 2 / 3, recall: 2 / 3, threshold: 0.3, reviewed: 3 });
    const tied = scoresOf([0.9, 0.5, 0.5, 0.5, 0.1, 0.05, 0.04, 0.03, 0.02, 0.01]);
    assert.deepEqual(precisionRecallAtBudget(labels, tied, 0.2), { precision: 0.5, recall: 2 / 3, threshold: 0.5, reviewed: 4 });
    // A budget smaller than one transaction still reviews the top one.
    assert.equal(precisionRecallAtBudget(labels, scores, 0.001).reviewed, 1);
    assert.throws(() => precisionRecallAtBudget(labels, scores, 0), /budget/);
  });
});
