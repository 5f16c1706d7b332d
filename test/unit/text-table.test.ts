import { strict as assert } from 'node:assert';
import { formatRecords, formatTable } from '../../infra/text-table';

describe('text tables for people', () => {
  it('prints a header, one rule and the rows, with no index column and no quotes', () => {
    const lines = formatTable(['method', 'HR@10'], [['storeloop', '.0745'], ['SASRec published', '.0605']]).split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^method\s+HR@10$/);
    assert.match(lines[1], /^─+$/);
    assert.ok(!lines.join('\n').includes("'"), 'strings are not quoted');
    assert.ok(!lines.join('\n').includes('(index)'));
  });

  it('right-aligns columns of numbers, placeholders included, and left-aligns text', () => {
    const lines = formatTable(['name', 'rows'], [['a', '72615'], ['bb', 'n/a'], ['ccc', '7 ms']]).split('\n');
    const ends = lines.slice(2).map((line) => line.length);
    assert.deepEqual(ends, [ends[0], ends[0], ends[0]], `numbers end in one column:\n${lines.join('\n')}`);
    assert.ok(lines[2].startsWith('a '), 'text stays left');
  });

  it('wraps a long cell at word boundaries instead of stretching the table', () => {
    const long = 'word '.repeat(30).trim();
    const lines = formatTable(['step', 'detail'], [['collect', long]], 40).split('\n');
    assert.ok(lines.length > 3);
    assert.ok(lines.slice(2).every((line) => line.length <= 'collect'.length + 2 + 40), lines.join('\n'));
  });

  it('builds the header from record keys, blanks missing values, and says (none) for no rows', () => {
    const out = formatRecords([{ step: 'train', rows: 10 }, { step: 'deploy', rows: null, detail: 'v3' }]);
    assert.match(out.split('\n')[0], /^step\s+rows\s+detail$/);
    assert.match(out.split('\n')[3], /^deploy\s+v3$/);
    assert.equal(formatRecords([]), '(none)');
  });
});
