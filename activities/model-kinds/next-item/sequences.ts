/**
 * From validated events to what a sequential recommender trains on: deduplicated events,
 * a dense item vocabulary (index 0 is padding), one chronological item sequence per user
 * (repeats of the same item in a row, such as view -> add_to_cart -> purchase, collapse
 * into one step) and the leave-one-out split: last item = test, second-to-last = validation.
 */
import { tableFromColumns } from '../../storage/arrow-io';
import { SEQUENCES_SCHEMA, VOCABULARY_SCHEMA } from '../../../schemas/steps';
import type { Table } from 'apache-arrow';
import type { RankingCase } from '../../../ml/ranking';

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

/** Accumulates events in any order and builds the dataset deterministically. */
export class SequenceBuilder {
  private readonly seen = new Set<string>();
  private readonly perUser = new Map<string, { t: number; item: string; order: number }[]>();
  private order = 0;
  readonly stats: SequenceStats = { events: 0, duplicates: 0, afterCutoff: 0 };

  constructor(private readonly cutoffMs = Number.POSITIVE_INFINITY) {}

  add(event: EventRecord): void {
    this.stats.events++;
    if (event.timestamp >= this.cutoffMs) {
      this.stats.afterCutoff++;
      return;
    }
    const key = `${event.userId}\u0000${event.itemId}\u0000${event.eventType}\u0000${event.timestamp}`;
    if (this.seen.has(key)) {
      this.stats.duplicates++;
      return;
    }
    this.seen.add(key);
    const list = this.perUser.get(event.userId) ?? [];
    list.push({ t: event.timestamp, item: event.itemId, order: this.order++ });
    this.perUser.set(event.userId, list);
  }

  build(): SequenceDataset {
    const counts = new Map<string, number>();
    const userIds = [...this.perUser.keys()].sort(byString);
    const itemSequences = userIds.map((user) => {
      const events = this.perUser.get(user)!.sort((a, b) => a.t - b.t || a.order - b.order);
      const items: string[] = [];
      for (const e of events) if (items[items.length - 1] !== e.item) items.push(e.item);
      for (const item of items) counts.set(item, (counts.get(item) ?? 0) + 1);
      return items;
    });
    const itemIds = [...counts.keys()].sort(byString);
    const index = new Map(itemIds.map((id, i) => [id, i + 1]));
    return {
      itemIds,
      itemCounts: itemIds.map((id) => counts.get(id)!),
      userIds,
      sequences: itemSequences.map((items) => Int32Array.from(items, (id) => index.get(id)!)),
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
