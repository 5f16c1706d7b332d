import assert from 'node:assert/strict';
import { handbookRows } from '../../bench/handbook-results';

const README = `Handbook protocol: training window 2018-07-25 .. 2018-07-31, a 7-day delay, test
window 2018-08-08 .. 2018-08-14. Handbook baselines on that test week
(AUC-ROC / average precision / card precision@100): logistic regression
.871 / .606 / .291, random forest .867 / .658 / .287, decision tree (depth 2) .763 / .496 / .241.

The handbook's model-selection chapters use a second protocol. Best validation-selected results there: XGBoost .872 / .687 / .303,
balanced bagging .879 / .680 / .305.
`;

describe('handbook rows of the datasets README', () => {
  it('reads each protocol paragraph into AUC / AP / card precision rows', () => {
    assert.deepEqual(handbookRows(README, 'single'), [
      { model: 'logistic regression', auc: 0.871, ap: 0.606, cardPrecision: 0.291 },
      { model: 'random forest', auc: 0.867, ap: 0.658, cardPrecision: 0.287 },
      { model: 'decision tree (depth 2)', auc: 0.763, ap: 0.496, cardPrecision: 0.241 },
    ]);
    assert.deepEqual(handbookRows(README, 'prequential').map((r) => [r.model, r.ap]), [['XGBoost', 0.687], ['balanced bagging', 0.68]]);
    assert.deepEqual(handbookRows('nothing here', 'single'), []);
  });
});
