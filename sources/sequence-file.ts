/**
 * The `user_id item_id item_id ...` sequence files of the public recommendation
 * benchmarks, turned into interaction events. The files carry order but no time, so each
 * user's k-th item gets a timestamp k days after a fixed origin (plus a per-user offset
 * so users interleave); this keeps every user's order exactly.
 */
import { InvalidInputFileError } from '../activities/collect/raw-files';
import type { RawEvent } from '../schemas/events';

const ORIGIN_MS = Date.UTC(2014, 0, 1);
const DAY_MS = 86_400_000;

export function sequenceFileToEvents(fileName: string, text: string): RawEvent[] {
  const events: RawEvent[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const tokens = line.trim().split(/\s+/);
    const bad = tokens.findIndex((t) => !/^\d{1,12}$/.test(t));
    if (bad >= 0) {
      throw new InvalidInputFileError(fileName, `line ${index + 1}, token ${bad + 1}: "${tokens[bad]}" is not a numeric id`);
    }
    if (tokens.length < 2) throw new InvalidInputFileError(fileName, `line ${index + 1}: a user with no items`);
    const [user, ...items] = tokens;
    const offsetMs = (Number(user) % 86_400) * 1000;
    items.forEach((item, k) => {
      events.push({
        user_id: user,
        item_id: item,
        event_type: 'review',
        timestamp: ORIGIN_MS + k * DAY_MS + offsetMs,
        session_id: null,
        price: null,
        category: null,
      });
    });
  });
  if (events.length === 0) throw new InvalidInputFileError(fileName, 'the file has no sequences');
  return events;
}
