/**
 * Known users' answers, computed once when a version is deployed (the kind's `precompute`):
 * each user of the version's sequences artifact with their top PRECOMPUTED_K items after
 * their whole history, exactly as GET /recommendations would rank them online. Serving
 * answers such a user from this table until the user has new events (serving.ts, which also computes it).
 *
 * Stored as dense indices of the version's own vocabulary, published beside it, and stamped
 * with the weights' hash, so a table is never read against another model's weights.
 */
import { Field, Float32, Int32, List, Schema, Utf8, type Table } from 'apache-arrow';
import { tableFromColumns } from '../../storage/arrow-io';

export const TOP_ITEMS = 'top-items';
/** Items kept per user: a request for more is scored online. */
export const PRECOMPUTED_K = 20;

const TOP_ITEMS_SCHEMA = (weightsSha256: string) =>
  new Schema(
    [
      new Field('user_id', new Utf8(), false),
      new Field('items', new List(new Field('item', new Int32(), false)), false),
      new Field('scores', new List(new Field('score', new Float32(), false)), false),
    ],
    new Map([['weightsSha256', weightsSha256]]),
  );

export interface PrecomputedAnswer {
  /** Dense indices, best first. */
  items: Int32Array;
  scores: Float32Array;
}

/** The table deploy publishes: per user, the dense indices and scores of their top items, best first. */
export function topItemsTable(weightsSha256: string, columns: { user_id: string[]; items: number[][]; scores: number[][] }): Table {
  return tableFromColumns(TOP_ITEMS_SCHEMA(weightsSha256), columns);
}

/** The published table by user; refused when it was computed with other weights than `weightsSha256`. */
export function precomputedAnswers(table: Table, weightsSha256: string): Map<string, PrecomputedAnswer> {
  const stamped = table.schema.metadata.get('weightsSha256');
  if (stamped !== weightsSha256) throw new Error(`${TOP_ITEMS} was computed with weights ${stamped ?? '(unstamped)'}, not this version's ${weightsSha256}`);
  const answers = new Map<string, PrecomputedAnswer>();
  for (const row of table) {
    answers.set(row.user_id as string, {
      items: Int32Array.from((row.items as { toArray(): Int32Array }).toArray()),
      scores: Float32Array.from((row.scores as { toArray(): Float32Array }).toArray()),
    });
  }
  return answers;
}
