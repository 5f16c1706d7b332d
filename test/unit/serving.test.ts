import assert from 'node:assert/strict';
import type { z } from 'zod';
import { topK } from '../../activities/model-kinds/next-item/serving';
import { RecentActivity } from '../../activities/model-kinds/next-item/recent-activity';
import { describeRequestIssue, parseFeedbackBody, RecommendationQuery, SessionRecommendationBody } from '../../schemas/serving';

describe('serving: ranking, recent activity and request contracts', () => {
  it('picks the k best items, best first, never padding or an excluded item', () => {
    const scores = Float32Array.from([99, 0.1, 0.9, 0.5, 0.7, 0.3]);
    assert.deepEqual(topK(scores, 3, new Set()).map((c) => c.index), [2, 4, 3]);
    assert.deepEqual(topK(scores, 3, new Set([2, 3])).map((c) => c.index), [4, 5, 1]);
    assert.deepEqual(topK(scores, 10, new Set([1, 2, 3])).map((c) => c.index), [4, 5], 'fewer candidates than k');
  });

  it('remembers the latest items of the most recently active users only', () => {
    const recent = new RecentActivity(2, 3);
    for (const item of ['a', 'b', 'b', 'c', 'd']) recent.record('u1', item);
    assert.deepEqual(recent.itemsOf('u1'), ['b', 'c', 'd'], 'repeats in a row collapse; the oldest go first');
    recent.record('u2', 'x');
    recent.record('u3', 'y');
    assert.deepEqual(recent.itemsOf('u1'), [], 'the least recently active user was forgotten');
    assert.equal(recent.users, 2);
  });

  it('names the failing field of a request', () => {
    const issue = (result: z.ZodSafeParseResult<unknown>) => {
      assert.ok(!result.success, 'the request should not validate');
      return describeRequestIssue(result.error);
    };
    assert.deepEqual(issue(RecommendationQuery.safeParse({ user: 'u', k: '0' })), { field: 'k', message: 'must be at least 1' });
    assert.deepEqual(issue(RecommendationQuery.safeParse({ k: '5' })), { field: 'user', message: 'is required' });
    assert.deepEqual(issue(RecommendationQuery.safeParse({ user: 'u', sort: 'x' })), { field: 'sort', message: 'is not a known field' });
    assert.equal(issue(SessionRecommendationBody.safeParse({ items: ['a', 7] })).field, 'items[1]');
    assert.deepEqual(issue(parseFeedbackBody({ type: 'view', user: 'u', item: 'i' })), { field: 'type', message: 'must be one of click, add_to_cart, purchase' });
    assert.equal(issue(parseFeedbackBody([{ type: 'click', user: 'u', item: 'i' }, { type: 'click', user: 'u' }])).field, '[1].item');
  });

  it('reads query strings and event times as clients send them', () => {
    assert.deepEqual(RecommendationQuery.parse({ user: ' u1 ', k: '20', timestamp: '1767225600000' }), { user: 'u1', k: 20, timestamp: 1767225600000 });
    assert.equal(RecommendationQuery.parse({ user: 'u1' }).k, 10);
    assert.equal(parseFeedbackBody({ type: 'purchase', user: 'u', item: 'i', timestamp: '2026-11-02T10:00:00Z' }).data?.[0].timestamp, Date.parse('2026-11-02T10:00:00Z'));
  });
});
