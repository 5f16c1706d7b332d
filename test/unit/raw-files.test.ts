import assert from 'node:assert/strict';
import { eventsSource } from '../../activities/model-kinds/next-item/sources';
import { gzipSync } from 'node:zlib';
import { InvalidInputFileError, parseRawFile, readRawFile } from '../../activities/collect/raw-files';
import { rowsToArrowBytes } from '../../activities/collect/collect';
import { RawEventRow, REQUIRED_EVENT_COLUMNS, describeProblem } from '../../schemas/events';

const HEADER = 'user_id,item_id,event_type,timestamp,session_id,price,category';
const GOOD = 'u1,i1,view,2024-03-01T10:00:00Z,s1,9.99,shoes';
const parse = (name: string, content: string | Uint8Array) =>
  parseRawFile(name, typeof content === 'string' ? Buffer.from(content) : content, RawEventRow, REQUIRED_EVENT_COLUMNS);

describe('raw event files: validation at the edge', () => {
  it('parses a valid CSV row into typed fields', async () => {
    const result = await parse('events.csv', `${HEADER}\n${GOOD}\n`);
    assert.equal(result.problems.length, 0);
    assert.deepEqual(result.rows[0], {
      user_id: 'u1', item_id: 'i1', event_type: 'view', timestamp: Date.UTC(2024, 2, 1, 10), session_id: 's1', price: 9.99, category: 'shoes',
    });
  });

  it('numbers rows by record, not by line: a quoted field over several lines, and a malformed row, shift nothing after them', async () => {
    const multiLine = 'u2,i2,view,2024-03-01T10:00:00Z,s2,1.5,"shoes\nand\nboots"';
    const tooManyFields = 'u3,i3,view,2024-03-01T10:00:00Z,,,,extra';
    const badPrice = 'u4,i4,view,2024-03-01T10:00:00Z,,abc,';
    const result = await parse('multi.csv', `${HEADER}\n${GOOD}\n${multiLine}\n${tooManyFields}\n${badPrice}\n${GOOD}\n`);
    assert.equal(result.rows.length, 2);
    assert.deepEqual(result.problems.map((p) => [p.row, p.field]), [[2, 'category'], [3, '(row)'], [4, 'price']], 'data rows 2, 3 and 4, whatever the lines');
    assert.match(result.problems[0].message, /control character \(such as a line break\)/, 'says what is wrong with the field');
  });

  it('names every bad field of a row and what is wrong with each, a nested object included', async () => {
    const line = JSON.stringify({ user_id: { id: 7 }, item_id: 'i1', event_type: 'wishlist', timestamp: '2024-03-01T10:00:00Z' });
    const result = await parse('nested.jsonl', `${line}\n${JSON.stringify({ user_id: 'u1', item_id: 'i1', event_type: 'view', timestamp: 1709287200000 })}\n`);
    assert.equal(result.rows.length, 1);
    assert.equal(result.problems.length, 1, 'one problem per rejected row');
    const [problem] = result.problems;
    assert.equal(problem.field, 'user_id,event_type');
    assert.match(problem.message, /^user_id: must be a string or a number; event_type: .*one of/);
  });

  // Row-level problems: quarantined with file, row and field; the good rows survive.
  const rowCases: { name: string; line: string; field: string; message: RegExp }[] = [
    { name: 'unknown event type', line: 'u2,i2,wishlist,2024-03-01T10:00:00Z,,,', field: 'event_type', message: /one of/ },
    { name: 'wrong type for price', line: 'u2,i2,view,2024-03-01T10:00:00Z,,abc,', field: 'price', message: /number/ },
    { name: 'negative price', line: 'u2,i2,view,2024-03-01T10:00:00Z,,-5,', field: 'price', message: /between/ },
    { name: 'absurd price', line: 'u2,i2,view,2024-03-01T10:00:00Z,,99999999,', field: 'price', message: /between/ },
    { name: 'negative timestamp', line: 'u2,i2,view,-1000,,,', field: 'timestamp', message: /out of range/ },
    { name: 'timestamp in the far future', line: 'u2,i2,view,4102444800000,,,', field: 'timestamp', message: /out of range/ },
    { name: 'not a timestamp', line: 'u2,i2,view,yesterday,,,', field: 'timestamp', message: /not a timestamp/ },
    { name: 'empty user id', line: ',i2,view,2024-03-01T10:00:00Z,,,', field: 'user_id', message: /empty/ },
    { name: 'huge id', line: `${'u'.repeat(300)},i2,view,2024-03-01T10:00:00Z,,,`, field: 'user_id', message: /at most/ },
    { name: 'too many fields', line: 'u2,i2,view,2024-03-01T10:00:00Z,,,,extra', field: '(row)', message: /malformed CSV/ },
  ];
  for (const c of rowCases) {
    it(`quarantines a row with ${c.name}`, async () => {
      const result = await parse('day1.csv', `${HEADER}\n${GOOD}\n${c.line}\n${GOOD}\n`);
      assert.equal(result.rows.length, 2, 'the valid rows are kept');
      assert.equal(result.totalRows, 3);
      assert.equal(result.problems.length, 1);
      const [problem] = result.problems;
      assert.equal(problem.file, 'day1.csv');
      assert.equal(problem.row, 2);
      assert.equal(problem.field, c.field);
      assert.match(problem.message, c.message);
      assert.match(describeProblem(problem), /^day1\.csv row 2 field/);
    });
  }

  it('quarantines invalid UTF-8 instead of storing mojibake', async () => {
    const bytes = Buffer.concat([Buffer.from(`${HEADER}\n${GOOD}\nu`), Buffer.from([0xff, 0xfe]), Buffer.from(',i9,view,2024-03-01T10:00:00Z,,,\n')]);
    const result = await parse('latin1.csv', bytes);
    assert.equal(result.rows.length, 1);
    assert.equal(result.problems[0].field, 'user_id');
    assert.match(result.problems[0].message, /invalid UTF-8/);
  });

  it('quarantines malformed JSON lines and unknown keys in JSONL', async () => {
    const lines = [
      JSON.stringify({ user_id: 'u1', item_id: 'i1', event_type: 'purchase', timestamp: 1709287200 }),
      '{"user_id": "u2", ',
      JSON.stringify({ user_id: 'u3', item_id: 'i3', event_type: 'view', timestamp: 1709287200000, color: 'red' }),
    ];
    const result = await parse('events.jsonl', lines.join('\n'));
    assert.equal(result.rows.length, 1);
    assert.equal(result.rows[0].timestamp, 1709287200000, 'epoch seconds become milliseconds');
    assert.deepEqual(result.problems.map((p) => [p.row, p.field]), [[2, '(row)'], [3, 'color']]);
  });

  // File-level problems: a named error that says what to fix.
  const fileCases: { name: string; file: string; content: string | Uint8Array; message: RegExp }[] = [
    { name: 'an empty file', file: 'empty.csv', content: '', message: /empty/ },
    { name: 'a missing required column', file: 'drift.csv', content: 'user_id,item_id,timestamp\nu1,i1,2024-03-01\n', message: /missing required column\(s\) event_type/ },
    { name: 'an unknown column', file: 'drift2.csv', content: `${HEADER},coupon\n${GOOD},X\n`, message: /unknown column\(s\) coupon/ },
    { name: 'a truncated Arrow file', file: 'cut.arrow', content: rowsToArrowBytes(eventsSource, []).slice(0, 40), message: /Arrow/ },
    { name: 'a corrupt Parquet file', file: 'events.parquet', content: Buffer.from('PAR1 these bytes are no Parquet footer PAR1'), message: /not a readable Parquet file/ },
    { name: 'a corrupt gzip file', file: 'events.csv.gz', content: Buffer.from('not gzip'), message: /gzip/ },
    { name: 'an unknown format', file: 'events.xlsx', content: 'x', message: /unknown format/ },
  ];
  for (const c of fileCases) {
    it(`rejects ${c.name} with a named error`, async () => {
      await assert.rejects(parse(c.file, c.content), (error: Error) => {
        assert.ok(error instanceof InvalidInputFileError);
        assert.ok(error.message.startsWith(`${c.file}:`), error.message);
        assert.match(error.message, c.message);
        return true;
      });
    });
  }

  it('fails a file with an overlong record as soon as it is seen, quoting none of it', async () => {
    const noLineBreaks = 'x'.repeat(2_000_000);
    const cases = [
      { file: 'one-line.csv', content: noLineBreaks, what: /the header is over 1,000,000 characters/ },
      { file: 'long-row.csv', content: `${HEADER}\n${GOOD}\n${GOOD},"${noLineBreaks}"\n${GOOD}\n`, what: /row 2 is over 1,000,000 characters/ },
      { file: 'one-line.jsonl', content: noLineBreaks, what: /line 1 is over 1,000,000 characters/ },
    ];
    for (const c of cases) {
      let read = 0;
      const bytes = Buffer.from(c.content);
      // Fed in 64 KiB chunks: the reader must give up after about the limit, not read the whole file.
      const chunks = (function* () {
        for (let at = 0; at < bytes.length; at += 65_536) {
          read = at;
          yield bytes.subarray(at, at + 65_536);
        }
      })();
      await assert.rejects(readRawFile(c.file, chunks, RawEventRow, REQUIRED_EVENT_COLUMNS, () => undefined), (error: Error) => {
        assert.ok(error instanceof InvalidInputFileError, String(error));
        assert.match(error.message, c.what);
        assert.ok(error.message.length < 400 && !error.message.includes('xxxxxxxxxx'), `no raw data in the error: ${error.message.slice(0, 400)}`);
        return true;
      });
      assert.ok(read < 1_500_000, `${c.file}: stopped reading at ${read} bytes`);
    }
  });

  it('quotes at most a bounded preview of a long column name', async () => {
    await assert.rejects(parse('wide.csv', `${HEADER},${'y'.repeat(50_000)}\n${GOOD},1\n`), (error: Error) => {
      assert.match(error.message, /unknown column\(s\) "y{32}"\.\.\. \(50000 bytes\)/);
      assert.ok(error.message.length < 500);
      return true;
    });
  });

  it('streams a file that arrives in small chunks, split inside lines and UTF-8 characters', async () => {
    const files = {
      'chunked.csv': `${HEADER}\n${GOOD}\r\nu2,i2,view,2024-03-01T10:00:00Z,s2,1.5,café\n`,
      'chunked.jsonl': `${JSON.stringify({ user_id: 'u1', item_id: 'i1', event_type: 'view', timestamp: 1709287200000 })}\r\n${JSON.stringify({ user_id: 'u2', item_id: 'i2', event_type: 'view', timestamp: 1709287200000, category: 'café' })}\n`,
    };
    for (const [name, text] of Object.entries(files)) {
      const bytes = Buffer.from(text);
      const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));
      const rows: { category: string | null }[] = [];
      const report = await readRawFile(name, chunks, RawEventRow, REQUIRED_EVENT_COLUMNS, (row) => void rows.push(row));
      assert.deepEqual(report, { problems: [], totalRows: 2, validRows: 2 }, name);
      assert.deepEqual(rows, (await parse(name, bytes)).rows, name);
      assert.equal(rows[1].category, 'café', name);
    }
  });

  it('reads gzip CSV and Arrow IPC files', async () => {
    const fromGzip = await parse('events.csv.gz', gzipSync(`${HEADER}\n${GOOD}\n`));
    assert.equal(fromGzip.rows.length, 1);
    const fromArrow = await parse('events.arrow', rowsToArrowBytes(eventsSource, fromGzip.rows));
    assert.deepEqual(fromArrow.rows, fromGzip.rows);
  });
});
