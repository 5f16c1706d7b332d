import assert from 'node:assert/strict';
import { generateSyntheticStore, weeklyEventFiles } from '../../activities/model-kinds/next-item/synthetic';
import { RawEventRow } from '../../schemas/events';

const SMALL = { seed: 3, users: 300, items: 200, categories: 8, days: 28, endDate: '2026-11-01' };

describe('synthetic store', () => {
  it('is deterministic for a seed and different across seeds', () => {
    const a = generateSyntheticStore(SMALL);
    assert.deepEqual(generateSyntheticStore(SMALL).events.slice(0, 50), a.events.slice(0, 50));
    assert.notDeepEqual(generateSyntheticStore({ ...SMALL, seed: 4 }).events.slice(0, 50), a.events.slice(0, 50));
  });

  it('produces events that pass the raw event contract', () => {
    const { events, catalogue } = generateSyntheticStore(SMALL);
    assert.equal(catalogue.length, 200);
    for (const e of events.slice(0, 500)) assert.ok(RawEventRow.safeParse(e).success, JSON.stringify(e));
    assert.ok(weeklyEventFiles(events).length >= 4);
  });

  it('has sequential structure: the next view is predictable from the current item', () => {
    const { events } = generateSyntheticStore(SMALL);
    const transitions = new Map<string, Map<string, number>>();
    const last = new Map<string, string>();
    let pairs = 0;
    for (const e of events.filter((x) => x.event_type === 'view')) {
      const previous = last.get(e.user_id);
      if (previous) {
        const next = transitions.get(previous) ?? new Map<string, number>();
        next.set(e.item_id, (next.get(e.item_id) ?? 0) + 1);
        transitions.set(previous, next);
        pairs++;
      }
      last.set(e.user_id, e.item_id);
    }
    // Predicting "the most common successor of the current item" must beat predicting
    // "the most popular item" by far, or there is nothing for a sequence model to learn.
    let predictable = 0;
    const overall = new Map<string, number>();
    for (const next of transitions.values()) {
      predictable += Math.max(...next.values());
      for (const [item, n] of next) overall.set(item, (overall.get(item) ?? 0) + n);
    }
    const popular = Math.max(...overall.values());
    assert.ok(predictable > 2 * popular, `successor hits ${predictable} vs most-popular hits ${popular} of ${pairs}`);
  });
});
