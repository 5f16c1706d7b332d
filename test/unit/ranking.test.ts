import assert from 'node:assert/strict';
import { evaluateRanking, popularityScorer, rankOfTarget, RankingAccumulator } from '../../ml/sequence/ranking';

describe('full-ranking metrics', () => {
  it('ranks the target among all items except the history', () => {
    const scores = Float32Array.from([0, 0.9, 0.8, 0.7, 0.6]);
    // Item 1 scores highest but is in the history, so the target (3) is second after item 2.
    assert.equal(rankOfTarget(scores, 3, Int32Array.from([1])), 1);
  });

  it('counts ties against the target', () => {
    assert.equal(rankOfTarget(Float32Array.from([0, 1, 1, 1]), 2, new Int32Array()), 2);
  });

  it('computes HR and NDCG at 10 and 20', () => {
    const acc = new RankingAccumulator();
    [0, 3, 15, 40].forEach((r) => acc.add(r));
    const m = acc.result();
    assert.equal(m.users, 4);
    assert.equal(m['hr@10'], 0.5);
    assert.equal(m['hr@20'], 0.75);
    assert.ok(Math.abs(m['ndcg@10'] - (1 + 1 / Math.log2(5)) / 4) < 1e-12);
    assert.ok(Math.abs(m['ndcg@20'] - (1 + 1 / Math.log2(5) + 1 / Math.log2(17)) / 4) < 1e-12);
  });

  it('scores popularity the same for every user and excludes seen items', async () => {
    const counts = Float32Array.from([-Infinity, 5, 4, 3, 2, 1]);
    const m = await evaluateRanking(
      [
        { history: Int32Array.from([1]), target: 2 }, // rank 0 once item 1 is excluded
        { history: Int32Array.from([2]), target: 5 }, // items 1, 3, 4 rank above: rank 3
      ],
      counts.length,
      popularityScorer(counts),
    );
    assert.equal(m['hr@10'], 1);
    assert.ok(Math.abs(m['ndcg@10'] - (1 + 1 / Math.log2(5)) / 2) < 1e-12);
  });
});
