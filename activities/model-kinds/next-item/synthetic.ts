/**
 * A realistic synthetic online store, the embedded default data that makes the main job
 * work on any fresh machine: a catalogue with categories and prices, a long-tailed
 * popularity curve, users with tastes, sessions, and real sequential structure (items
 * have follow-up items, e.g. phone -> case -> charger) that a sequence model can learn
 * and a popularity ranking cannot. Deterministic for a seed.
 */
import { seededRng, shuffled, type Rng } from '../../../ml/random';
import type { CatalogueItem, EventType, RawEvent } from '../../../schemas/events';
import type { RawFile } from '../contract';

export interface SyntheticStoreOptions {
  seed: number;
  users: number;
  items: number;
  categories: number;
  days: number;
  /** Last day of activity (UTC); fixed so the data is the same on every machine. */
  endDate: string;
}

export const DEFAULT_STORE: SyntheticStoreOptions = {
  seed: 7,
  users: 3000,
  items: 1200,
  categories: 24,
  days: 56,
  endDate: '2026-11-01',
};

export interface SyntheticStore {
  catalogue: CatalogueItem[];
  events: RawEvent[];
}

/** Index drawn with probability proportional to `weights` (cumulative table). */
function sampler(weights: number[]): (rng: Rng) => number {
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  return (rng) => {
    const target = rng() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export function generateSyntheticStore(options: SyntheticStoreOptions = DEFAULT_STORE): SyntheticStore {
  const rng = seededRng(options.seed);
  const { items, categories, users, days } = options;

  // Catalogue: each category has its own price level; popularity follows a Zipf curve.
  const categoryOf: number[] = [];
  const catalogue: CatalogueItem[] = [];
  const priceLevel = Array.from({ length: categories }, () => 5 + rng() * 95);
  const itemsByCategory: number[][] = Array.from({ length: categories }, () => []);
  const popularity = shuffled(
    Array.from({ length: items }, (_, rank) => 1 / Math.pow(rank + 1, 1.05)),
    rng,
  );
  for (let i = 0; i < items; i++) {
    const c = Math.floor(rng() * categories);
    categoryOf.push(c);
    itemsByCategory[c].push(i);
    const price = Math.round(priceLevel[c] * Math.exp((rng() - 0.5) * 0.8) * 100) / 100;
    catalogue.push({ item_id: `P${String(i + 1).padStart(5, '0')}`, title: `Product ${i + 1}`, category: `C${c + 1}`, price });
  }
  const byCategory = itemsByCategory.map((members) => ({ members, pick: sampler(members.map((i) => popularity[i])) }));
  const anyItem = sampler(popularity);

  // Sequential structure: every item has a few follow-ups, mostly in a related category.
  const followUps: number[][] = [];
  for (let i = 0; i < items; i++) {
    const related = (categoryOf[i] + 1 + Math.floor(rng() * 2)) % categories;
    followUps.push(
      Array.from({ length: 3 }, () => {
        const pool = byCategory[rng() < 0.6 ? related : categoryOf[i]];
        return pool.members.length > 0 ? pool.members[pool.pick(rng)] : anyItem(rng);
      }),
    );
  }

  const endMs = Date.parse(`${options.endDate}T23:59:59Z`);
  const startMs = endMs - days * 86_400_000;
  const events: RawEvent[] = [];
  for (let u = 0; u < users; u++) {
    const userId = `U${String(u + 1).padStart(6, '0')}`;
    const tastes = Array.from({ length: 3 }, () => Math.floor(rng() * categories));
    const sessions = 2 + Math.floor(rng() * 5);
    const sessionStarts = Array.from({ length: sessions }, () => startMs + rng() * (endMs - startMs - 3_600_000)).sort(
      (a, b) => a - b,
    );
    let current = -1;
    sessionStarts.forEach((sessionStart, s) => {
      let t = sessionStart;
      const length = 2 + Math.floor(rng() * 7);
      for (let step = 0; step < length; step++) {
        const roll = rng();
        if (current >= 0 && roll < 0.6) current = followUps[current][Math.floor(rng() * 3)];
        else if (roll < 0.9) {
          const pool = byCategory[tastes[Math.floor(rng() * tastes.length)]];
          current = pool.members.length > 0 ? pool.members[pool.pick(rng)] : anyItem(rng);
        } else current = anyItem(rng);
        t += 30_000 + rng() * 270_000;
        const item = catalogue[current];
        const base = { user_id: userId, item_id: item.item_id, session_id: `${userId}-S${s + 1}`, price: item.price, category: item.category };
        const emit = (eventType: EventType, at: number) => events.push({ ...base, event_type: eventType, timestamp: Math.round(at) });
        emit('view', t);
        if (rng() < 0.15) {
          emit('add_to_cart', t + 5_000);
          if (rng() < 0.5) emit('purchase', t + 60_000);
        }
      }
    });
  }
  events.sort((a, b) => a.timestamp - b.timestamp || (a.user_id < b.user_id ? -1 : 1));
  return { catalogue, events };
}

const EVENT_CSV_HEADER = 'user_id,item_id,event_type,timestamp,session_id,price,category';

export function eventsToCsv(events: RawEvent[]): string {
  const lines = events.map((e) =>
    [e.user_id, e.item_id, e.event_type, new Date(e.timestamp).toISOString(), e.session_id ?? '', e.price ?? '', e.category ?? ''].join(','),
  );
  return `${EVENT_CSV_HEADER}\n${lines.join('\n')}\n`;
}

export function catalogueToCsv(items: CatalogueItem[]): string {
  return `item_id,title,category,price\n${items.map((i) => [i.item_id, i.title ?? '', i.category ?? '', i.price ?? ''].join(',')).join('\n')}\n`;
}

/** Splits events into one CSV file per ISO week, as a store's export job would write them. */
export function weeklyEventFiles(events: RawEvent[]): { name: string; csv: string; rows: number }[] {
  const weeks = new Map<string, RawEvent[]>();
  for (const e of events) {
    const monday = new Date(e.timestamp);
    monday.setUTCHours(0, 0, 0, 0);
    monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
    const key = monday.toISOString().slice(0, 10);
    const bucket = weeks.get(key) ?? [];
    bucket.push(e);
    weeks.set(key, bucket);
  }
  return [...weeks.entries()].map(([week, rows]) => ({ name: `events-week-${week}.csv`, csv: eventsToCsv(rows), rows: rows.length }));
}

/** The store as raw files for the next-item kind's sources: weekly event exports and one catalogue export. */
export function syntheticStoreFiles(options: SyntheticStoreOptions = DEFAULT_STORE): RawFile[] {
  const { events, catalogue } = generateSyntheticStore(options);
  return [
    ...weeklyEventFiles(events).map((file) => ({ source: 'events', name: file.name, body: file.csv, contentType: 'text/csv', rows: file.rows })),
    { source: 'catalogue', name: 'catalogue.csv', body: catalogueToCsv(catalogue), contentType: 'text/csv' },
  ];
}
