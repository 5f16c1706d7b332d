import assert from 'node:assert/strict';
import { publishedRows } from '../../bench/published-results';

describe('published benchmark rows', () => {
  const readme = [
    '| dataset | users | items |',
    '|---|---|---|',
    '| Toys   | 19,412 | 11,924 |',
    '',
    '| model | Beauty | Toys |',
    '|---|---|---|',
    '| PopRec | .0152 / .0068 / .0217 / .0084 | .0113 / .0061 / .0163 / .0073 |',
    '| SASRec | .0605 / .0318 / .0902 / .0394 | .0675 / .0374 / .0941 / .0441 |',
  ].join('\n');

  it('reads the column of the dataset from the model table, not from other tables', () => {
    const rows = publishedRows(readme, 'Toys');
    assert.deepEqual(rows.map((r) => r.model), ['PopRec', 'SASRec']);
    assert.deepEqual(rows[1].metrics, { 'hr@10': 0.0675, 'ndcg@10': 0.0374, 'hr@20': 0.0941, 'ndcg@20': 0.0441 });
    assert.deepEqual(publishedRows(readme, 'Yelp'), []);
  });
});
