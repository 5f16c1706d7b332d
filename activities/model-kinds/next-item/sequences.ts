/**
 * From validated events to what a sequential recommender trains on: deduplicated events,
 * a dense item vocabulary (index 0 is padding), one chronological item sequence per user
 * (repeats of the same item in a row, such as view -> add_to_cart -> purchase, collapse
 * into one step) and the leave-one-out split: last item = test, second-to-last = validation.
 */
import { tableFromColumns } from '../../storage/arrow-io';
import { Field, Int32, List, Schema, Utf8, type Table } from 'apache-arrow';
import type { RankingCase } from '../../../ml/sequence/ranking';

/** Dense item vocabulary: index 0 is padding, items are 1..n. */
export const VOCABULARY_SCHEMA = new Schema([
  new Field('item_index', new Int32(), false),
  new Field('item_id', new Utf8(), false),
  new Field('interactions', new Int32(), false),
]);

/** One row per user: the chronological item sequence in dense indices. */
export const SEQUENCES_SCHEMA = new Schema([
  new Field('user_id', new Utf8(), false),
  new Field('items', new List(new Field('item', new Int32(), false)), false),
]);

/** Users need a training item, a validation target and a test target to be evaluated. */
export const MIN_EVALUABLE_LENGTH = 3;

export interface EventRecord {
  userId: string;
  itemId: string;
  eventType: string;
  timestamp: number;
}

export interface SequenceDataset {
  itemIds: string[]; // itemIds[i - 1] is the id of dense index i
  itemCounts: number[];
  userIds: string[];
  sequences: Int32Array[];
}

export interface SequenceStats {
  events: number;
  duplicates: number;
  afterCutoff: number;
}

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Dense numbers for strings, in order of first appearance. */
class Interner {
  private readonly ids = new Map<string, number>();
  readonly values: string[] = [];

  id(value: string): number {
    let id = this.ids.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.ids.set(value, id);
      this.values.push(value);
    }
    return id;
  }
}

/** `values` in string order: order[position] is an id, rank[id] its position. */
function stringRanks(values: string[]): { sorted: string[]; order: number[]; rank: Int32Array } {
  const order = values.map((_, id) => id).sort((a, b) => byString(values[a], values[b]));
  const rank = new Int32Array(values.length);
  order.forEach((id, position) => (rank[id] = position));
  return { sorted: order.map((id) => values[id]), order, rank };
}

/**
 * Accumulates events in any order and builds the dataset deterministically. Events are
 * kept as columns of interned numbers (a few bytes each, not an object and a string key),
 * so memory grows with the number of events only by what the sequences need.
 */
export class SequenceBuilder {
  private readonly users = new Interner();
  private readonly items = new Interner();
  private readonly eventTypes = new Interner();
  private readonly eventUser: number[] = [];
  private readonly eventItem: number[] = [];
  private readonly eventType: number[] = [];
  private readonly eventTime: number[] = [];
  readonly stats: SequenceStats = { events: 0, duplicates: 0, afterCutoff: 0 };

  constructor(private readonly cutoffMs = Number.POSITIVE_INFINITY) {}

  add(event: EventRecord): void {
    this.stats.events++;
    if (event.timestamp >= this.cutoffMs) {
      this.stats.afterCutoff++;
      return;
    }
    this.eventUser.push(this.users.id(event.userId));
    this.eventItem.push(this.items.id(event.itemId));
    this.eventType.push(this.eventTypes.id(event.eventType));
    this.eventTime.push(event.timestamp);
  }

  build(): SequenceDataset {
    const { eventUser, eventItem, eventType, eventTime } = this;
    const users = stringRanks(this.users.values);
    // By user (in id order), then time; ties keep arrival order, so the first of two duplicates stays.
    const order = Uint32Array.from(eventTime.keys()).sort(
      (a, b) => users.rank[eventUser[a]] - users.rank[eventUser[b]] || eventTime[a] - eventTime[b] || a - b,
    );
    const typeCount = this.eventTypes.values.length;
    const itemSequences: number[][] = [];
    const counts = new Int32Array(this.items.values.length);
    const sameInstant = new Set<number>();
    for (let i = 0; i < order.length; i++) {
      const event = order[i];
      const previous = i > 0 ? order[i - 1] : -1;
      const newUser = previous < 0 || eventUser[previous] !== eventUser[event];
      if (newUser) itemSequences.push([]);
      if (newUser || eventTime[previous] !== eventTime[event]) sameInstant.clear();
      // The same user, item, type and time twice is one event delivered twice.
      const key = eventItem[event] * typeCount + eventType[event];
      if (sameInstant.has(key)) {
        this.stats.duplicates++;
        continue;
      }
      sameInstant.add(key);
      const sequence = itemSequences[itemSequences.length - 1];
      if (sequence[sequence.length - 1] === eventItem[event]) continue;
      sequence.push(eventItem[event]);
      counts[eventItem[event]]++;
    }
    const items = stringRanks(this.items.values);
    return {
      itemIds: items.sorted,
      itemCounts: items.order.map((id) => counts[id]),
      userIds: users.sorted,
      sequences: itemSequences.map((sequence) => Int32Array.from(sequence, (item) => items.rank[item] + 1)),
    };
  }
}

export function vocabularyTable(data: SequenceDataset): Table {
  return tableFromColumns(VOCABULARY_SCHEMA, {
    item_index: data.itemIds.map((_, i) => i + 1),
    item_id: data.itemIds,
    interactions: data.itemCounts,
  });
}

export function sequencesTable(data: SequenceDataset): Table {
  return tableFromColumns(SEQUENCES_SCHEMA, { user_id: data.userIds, items: data.sequences.map((s) => Array.from(s)) });
}

export function datasetFromTables(vocabulary: Table, sequences: Table): SequenceDataset {
  const itemIds: string[] = [];
  const itemCounts: number[] = [];
  for (const row of vocabulary) {
    if (row.item_index !== itemIds.length + 1) throw new Error('vocabulary indices are not dense and ordered');
    itemIds.push(row.item_id as string);
    itemCounts.push(row.interactions as number);
  }
  const userIds: string[] = [];
  const seqs: Int32Array[] = [];
  for (const row of sequences) {
    userIds.push(row.user_id as string);
    seqs.push(Int32Array.from((row.items as { toArray(): Int32Array }).toArray()));
  }
  return { itemIds, itemCounts, userIds, sequences: seqs };
}

/** Leave-one-out views of the data. */
export function trainingSequences(data: SequenceDataset): Int32Array[] {
  // Users too short to evaluate still teach the model their transitions.
  return data.sequences.map((s) => (s.length >= MIN_EVALUABLE_LENGTH ? s.subarray(0, s.length - 2) : s));
}

export function validationCases(data: SequenceDataset): RankingCase[] {
  return data.sequences
    .filter((s) => s.length >= MIN_EVALUABLE_LENGTH)
    .map((s) => ({ history: s.subarray(0, s.length - 2), target: s[s.length - 2] }));
}

export function testCases(data: SequenceDataset): RankingCase[] {
  return data.sequences
    .filter((s) => s.length >= MIN_EVALUABLE_LENGTH)
    .map((s) => ({ history: s.subarray(0, s.length - 1), target: s[s.length - 1] }));
}

/** Interactions per item (index-aligned, 0 = padding) in what precedes each user's target. */
export function popularityCounts(cases: RankingCase[], numItems: number): Float32Array {
  const counts = new Float32Array(numItems + 1);
  for (const c of cases) for (const item of c.history) counts[item]++;
  counts[0] = Number.NEGATIVE_INFINITY;
  return counts;
}
