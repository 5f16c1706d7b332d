/**
 * The embedded default data for demand forecasting: two and a half years of a store's
 * daily sales per item, with real structure to learn: item levels spread over two orders of
 * magnitude, trends, yearly seasonality whose phase depends on the category (garden in
 * summer, heating in winter), promotions (a price cut and an uplift for a week), permanent
 * price changes with price-elastic demand, intermittent slow sellers, and a few items
 * launched recently (too short for the models: the fallback forecasts them). Daily
 * quantities are Poisson around the week's demand. Deterministic for a seed.
 */
import { seededRng, type Rng } from '../../../ml/random';
import { DAY_MS } from './protocol';
import type { RawFile } from '../contract';

export interface SyntheticSalesOptions {
  seed: number;
  items: number;
  weeks: number;
  /** The last day of sales (UTC), a Sunday so that the last week is complete. */
  endDate: string;
  /** Items launched this many weeks before the end. */
  recentLaunches: number;
  recentLaunchWeeks: number;
}

export const DEFAULT_SALES: SyntheticSalesOptions = { seed: 11, items: 40, weeks: 130, endDate: '2026-11-01', recentLaunches: 3, recentLaunchWeeks: 30 };

const CATEGORIES = [
  { name: 'garden', peakWeek: 24 },
  { name: 'heating', peakWeek: 50 },
  { name: 'school', peakWeek: 34 },
  { name: 'kitchen', peakWeek: 48 },
  { name: 'toys', peakWeek: 50 },
  { name: 'basics', peakWeek: 0 },
] as const;
const WEEKS_PER_YEAR = 365.25 / 7;
/** Demand multiplier per unit of log price change. */
const PRICE_ELASTICITY = -1.5;

function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(rng)));
  // Knuth's method, fine for the small daily means here.
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rng();
  while (p > limit) {
    k++;
    p *= rng();
  }
  return k;
}

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

export interface SyntheticSale {
  item_id: string;
  timestamp: number;
  quantity: number;
  price: number;
  category: string;
}

export function simulateSales(options: SyntheticSalesOptions = DEFAULT_SALES): SyntheticSale[] {
  const rng = seededRng(options.seed);
  const endDay = Math.floor(Date.parse(options.endDate) / DAY_MS);
  const firstDay = endDay - options.weeks * 7 + 1;
  const sales: SyntheticSale[] = [];
  for (let i = 0; i < options.items + options.recentLaunches; i++) {
    const category = CATEGORIES[i % CATEGORIES.length];
    const intermittent = rng() < 0.2;
    const level = intermittent ? 0.3 + rng() * 1.5 : Math.exp(Math.log(3) + rng() * Math.log(60 / 3));
    const trend = (rng() - 0.4) * 0.01;
    const amplitude = category.name === 'basics' ? 0.05 : 0.3 + rng() * 0.5;
    const basePrice = Math.round((5 + rng() * 95) * 100) / 100;
    const priceChangeWeek = rng() < 0.4 ? Math.floor(rng() * options.weeks) : -1;
    const priceChange = 0.8 + rng() * 0.4;
    const launchWeek = i >= options.items ? options.weeks - options.recentLaunchWeeks : 0;
    for (let week = launchWeek; week < options.weeks; week++) {
      const promotion = week > launchWeek && rng() < 0.06;
      const price = basePrice * (priceChangeWeek >= 0 && week >= priceChangeWeek ? priceChange : 1) * (promotion ? 0.75 : 1);
      const weekOfYear = (Math.floor((firstDay + week * 7) / 7) + 0.5) % WEEKS_PER_YEAR;
      const season = 1 + amplitude * Math.cos((2 * Math.PI * (weekOfYear - category.peakWeek)) / WEEKS_PER_YEAR);
      const demand = level * Math.exp(trend * week) * season * (price / basePrice) ** PRICE_ELASTICITY * (promotion ? 1.5 : 1);
      for (let d = 0; d < 7; d++) {
        // Weekends sell more.
        const quantity = poisson(rng, (demand * (d >= 5 ? 1.4 : 0.84)) / 7);
        if (quantity === 0) continue;
        const day = firstDay + week * 7 + d;
        sales.push({ item_id: `sku-${String(i + 1).padStart(3, '0')}`, timestamp: day * DAY_MS + Math.floor(rng() * DAY_MS), quantity, price: Math.round(price * 100) / 100, category: category.name });
      }
    }
  }
  return sales.sort((a, b) => a.timestamp - b.timestamp || (a.item_id < b.item_id ? -1 : 1));
}

/** The sales as monthly CSV exports. */
export function syntheticSalesFiles(options: SyntheticSalesOptions = DEFAULT_SALES): RawFile[] {
  const months = new Map<string, SyntheticSale[]>();
  for (const sale of simulateSales(options)) {
    const month = new Date(sale.timestamp).toISOString().slice(0, 7);
    const rows = months.get(month);
    if (rows) rows.push(sale);
    else months.set(month, [sale]);
  }
  return [...months].map(([month, rows]) => ({
    source: 'sales',
    name: `sales-${month}.csv`,
    contentType: 'text/csv',
    rows: rows.length,
    body: ['item_id,timestamp,quantity,price,category', ...rows.map((s) => `${s.item_id},${new Date(s.timestamp).toISOString()},${s.quantity},${s.price.toFixed(2)},${s.category}`)].join('\n') + '\n',
  }));
}
