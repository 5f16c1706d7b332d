import assert from 'node:assert/strict';
import { SequenceBuilder, testCases, trainingSequences, validationCases } from '../../activities/model-kinds/next-item/sequences';
import { sequenceFileToEvents } from '../../sources/sequence-file';
import { InvalidInputFileError } from '../../activities/collect/raw-files';

describe('preprocessing into sequences', () => {
  const event = (userId: string, itemId: string, timestamp: number, eventType = 'view') => ({ userId, itemId, eventType, timestamp });

  it('orders by time, removes duplicates, collapses repeats and maps ids densely', () => {
    const b = new SequenceBuilder();
    [event('u1', 'b', 3), event('u1', 'a', 1), event('u1', 'a', 1), event('u1', 'a', 2, 'add_to_cart'), event('u1', 'c', 4), event('u0', 'c', 9)].forEach((e) => b.add(e));
    const data = b.build();
    assert.equal(b.stats.duplicates, 1);
    assert.deepEqual(data.itemIds, ['a', 'b', 'c']);
    assert.deepEqual(data.userIds, ['u0', 'u1']);
    assert.deepEqual([...data.sequences[1]], [1, 2, 3], 'a (view, cart) -> b -> c');
    assert.deepEqual(data.itemCounts, [1, 1, 2]);
  });

  it('drops events at or after the cut-off and counts them', () => {
    const b = new SequenceBuilder(10);
    [event('u', 'a', 5), event('u', 'b', 10), event('u', 'c', 11)].forEach((e) => b.add(e));
    assert.equal(b.stats.afterCutoff, 2);
    assert.deepEqual([...b.build().sequences[0]], [1]);
  });

  it('splits leave-one-out: last is test, second-to-last validation', () => {
    const data = { itemIds: ['a', 'b', 'c', 'd'], itemCounts: [1, 1, 1, 1], userIds: ['u', 'short'], sequences: [Int32Array.from([1, 2, 3, 4]), Int32Array.from([1, 2])] };
    assert.deepEqual(trainingSequences(data).map((s) => [...s]), [[1, 2], [1, 2]]);
    assert.deepEqual(validationCases(data).map((c) => [[...c.history], c.target]), [[[1, 2], 3]]);
    assert.deepEqual(testCases(data).map((c) => [[...c.history], c.target]), [[[1, 2, 3], 4]]);
  });

  it('turns benchmark sequence files into ordered events', () => {
    const events = sequenceFileToEvents('seq.txt', '1 10 11 12\n2 11 10\n');
    assert.equal(events.length, 5);
    const user1 = events.filter((e) => e.user_id === '1');
    assert.deepEqual(user1.map((e) => e.item_id), ['10', '11', '12']);
    assert.ok(user1[0].timestamp < user1[1].timestamp && user1[1].timestamp < user1[2].timestamp);
    assert.throws(() => sequenceFileToEvents('seq.txt', '1 10\n2 x 3\n'), (e: Error) => e instanceof InvalidInputFileError && /line 2, token 2/.test(e.message));
  });
});
