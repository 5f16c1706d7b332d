/**
 * Corrections join the next training set. Serving logs every answer (title, merchant,
 * predicted category, matched product) and every outcome merchants and category managers
 * post with its request id (serving.ts, feedback.ts); preprocess joins them by request id
 * and item into labelled offers, `feedback:<request_id>:<item>`: the corrected category or
 * the confirmed prediction, the corrected product or the confirmed match. The newest
 * outcome of each kind wins; an answer without an outcome is not a label, and an answer
 * without a title (a photo alone) has nothing to train the title models on.
 */
import { readBatches } from '../../storage/arrow-io';
import { timestampMs } from '../../feedback';
import type { ObjectStore } from '../../storage/object-store';

export interface CorrectedOffer {
  offerId: string;
  title: string;
  merchantId: string;
  category: string | null;
  productId: string | null;
  /** When the newest outcome was posted. */
  time: number;
}

const FEEDBACK_MERCHANT = 'feedback';
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);

/** Joins logged answers and outcomes (rows of the feedback schema, any order) into labelled offers. */
export function joinCorrections(rows: Iterable<Record<string, unknown>>): CorrectedOffer[] {
  const answers = new Map<string, { title: string | null; merchant: string | null; category: string | null; product: string | null }>();
  const categories = new Map<string, { value: string | null; at: number; confirmed: boolean }>();
  const matches = new Map<string, { value: string | null; at: number; confirmed: boolean }>();
  const newest = (outcomes: typeof categories, key: string, value: string | null, at: number, confirmed: boolean) => {
    const before = outcomes.get(key);
    if (!before || before.at <= at) outcomes.set(key, { value, at, confirmed });
  };
  for (const row of rows) {
    const key = `${String(row.request_id)}:${Number(row.item)}`;
    const at = timestampMs(row.timestamp);
    if (row.type === 'prediction') answers.set(key, { title: str(row.title), merchant: str(row.merchant_id), category: str(row.predicted_category), product: row.new_product === true ? null : str(row.matched_product) });
    else if (row.type === 'category_corrected') newest(categories, key, str(row.category), at, false);
    else if (row.type === 'category_confirmed') newest(categories, key, null, at, true);
    else if (row.type === 'match_corrected') newest(matches, key, row.new_product === true ? null : str(row.product_id), at, false);
    else if (row.type === 'match_confirmed') newest(matches, key, null, at, true);
  }
  const out: CorrectedOffer[] = [];
  for (const [key, answer] of answers) {
    const category = categories.get(key);
    const match = matches.get(key);
    if (!answer.title || (!category && !match)) continue;
    const labelled = {
      category: category ? (category.confirmed ? answer.category : category.value) : null,
      productId: match ? (match.confirmed ? answer.product : match.value) : null,
    };
    if (labelled.category === null && labelled.productId === null) continue;
    out.push({ offerId: `feedback:${key}`, title: answer.title, merchantId: answer.merchant ?? FEEDBACK_MERCHANT, ...labelled, time: Math.max(category?.at ?? 0, match?.at ?? 0) });
  }
  return out.sort((a, b) => (a.offerId < b.offerId ? -1 : a.offerId > b.offerId ? 1 : 0));
}

/** The serving log of `model` (`feedback/<model>/date=YYYY-MM-DD/*.arrow`) before the cut-off, joined. */
export async function readCorrections(store: ObjectStore, model: string, cutoffMs: number): Promise<CorrectedOffer[]> {
  const rows: Record<string, unknown>[] = [];
  for (const object of await store.list(`feedback/${model}/`)) {
    const day = /\/date=(\d{4}-\d{2}-\d{2})\//.exec(object.key)?.[1];
    if (!object.key.endsWith('.arrow') || !day || Date.parse(day) >= cutoffMs) continue;
    for await (const batch of readBatches(store, object.key)) {
      const columns = batch.schema.fields.map((f) => [f.name, batch.getChild(f.name)!] as const);
      for (let i = 0; i < batch.numRows; i++) {
        const row = Object.fromEntries(columns.map(([name, vector]) => [name, vector.get(i) as unknown]));
        if (timestampMs(row.timestamp) < cutoffMs) rows.push(row);
      }
    }
  }
  return joinCorrections(rows);
}
