/**
 * A seeded card-transaction simulator after the Fraud Detection Handbook's "Simulated data"
 * chapter: the transaction-risk model kind's built-in default data, and test data.
 *
 * Customers live on a 100 x 100 grid, each with a mean amount ~ U(5, 100) (standard deviation
 * half of it) and a mean number of transactions per day ~ U(0, 4); terminals are points on the
 * same grid, and a customer pays only at terminals closer than `radius`. Each day a customer
 * makes Poisson(mean) transactions at times ~ N(noon, 20000 s), those outside the day dropped,
 * with amounts ~ N(mean, std) (a negative draw is redrawn from U(0, 2 mean)), at a terminal of
 * their list drawn uniformly. Then three fraud scenarios, each overriding the one before:
 *   1. every amount above 220 is a fraud;
 *   2. each day some terminals are compromised: all their transactions of that day and the next
 *      27 are frauds;
 *   3. each day some customers are compromised: a third of each one's transactions of that day
 *      and the next 13 (drawn at random) have their amount multiplied by 5 and are frauds.
 *
 * The handbook compromises 2 of 10,000 terminals and 3 of 5,000 customers a day; the defaults
 * keep those rates for any population (a fraction is a chance of one more that day), so a
 * smaller simulation keeps the handbook's fraud share (about 0.8 %).
 */
import { seededRng, type Rng } from '../../../ml/random';
import { timeOrder } from './features';

export interface SimulationOptions {
  customers: number;
  terminals: number;
  days: number;
  /** ISO date (or date-time) of the first day's midnight, UTC. */
  start: string;
  seed: number;
  /** Grid distance within which a customer uses terminals (default 5, the handbook's). */
  radius?: number;
  /** Expected terminals compromised a day (default 2 per 10,000 terminals). */
  compromisedTerminalsPerDay?: number;
  /** Expected customers compromised a day (default 3 per 5,000 customers). */
  compromisedCustomersPerDay?: number;
}

/** Small and fast (~70,000 transactions in a fraction of a second): the embedded default data. */
export const DEFAULT_SIMULATION: SimulationOptions = Object.freeze({ customers: 600, terminals: 1200, days: 60, start: '2018-04-01', seed: 0 });

/** The handbook's own dimensions (about 1.75 M transactions over 2018-04-01 .. 2018-09-30). */
export const HANDBOOK_SIMULATION: SimulationOptions = Object.freeze({ customers: 5000, terminals: 10000, days: 183, start: '2018-04-01', seed: 0 });

export const FRAUD_AMOUNT_THRESHOLD = 220;
export const COMPROMISED_TERMINAL_DAYS = 28;
export const COMPROMISED_CUSTOMER_DAYS = 14;
const GRID_SIZE = 100;
const DEFAULT_RADIUS = 5;
const DAY_SECONDS = 86_400;
const TIME_OF_DAY_STD_SECONDS = 20_000;
const COMPROMISED_AMOUNT_FACTOR = 5;

export interface SimulatedTransaction {
  transaction_id: string;
  /** Epoch ms. */
  tx_datetime: number;
  customer_id: string;
  terminal_id: string;
  tx_amount: number;
  tx_fraud: 0 | 1;
  /** 0 genuine, else the fraud scenario that made it a fraud (the last one that applied). */
  scenario: 0 | 1 | 2 | 3;
}

function normal(rng: Rng, mean: number, std: number): number {
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  return mean + std * Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/** Knuth's method: fine for the small means (< 4) used here. */
function poisson(rng: Rng, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = rng(); p > limit; p *= rng()) k++;
  return k;
}

/** The integer count for a day whose expected count is `rate`. */
function countForDay(rng: Rng, rate: number): number {
  const whole = Math.floor(rate);
  return whole + (rng() < rate - whole ? 1 : 0);
}

/** `count` distinct integers in 0..n, uniformly. */
function distinct(rng: Rng, n: number, count: number): number[] {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(count, n)) chosen.add(Math.floor(rng() * n));
  return [...chosen];
}

const cents = (amount: number) => Math.round(amount * 100) / 100;

function resolved(options: Partial<SimulationOptions>): Required<SimulationOptions> & { startMs: number } {
  const o = { ...DEFAULT_SIMULATION, ...options };
  for (const key of ['customers', 'terminals', 'days'] as const) {
    if (!Number.isInteger(o[key]) || o[key] <= 0) throw new RangeError(`simulation ${key} must be a positive integer, got ${o[key]}`);
  }
  const startMs = Date.parse(/T/.test(o.start) ? o.start : `${o.start}T00:00:00Z`);
  if (!Number.isFinite(startMs)) throw new RangeError(`simulation start "${o.start}" is not an ISO date`);
  const full = {
    ...o,
    radius: o.radius ?? DEFAULT_RADIUS,
    compromisedTerminalsPerDay: o.compromisedTerminalsPerDay ?? (2 * o.terminals) / 10_000,
    compromisedCustomersPerDay: o.compromisedCustomersPerDay ?? (3 * o.customers) / 5_000,
    startMs,
  };
  for (const key of ['radius', 'compromisedTerminalsPerDay', 'compromisedCustomersPerDay'] as const) {
    if (!Number.isFinite(full[key]) || full[key] < 0) throw new RangeError(`simulation ${key} must be a number >= 0, got ${full[key]}`);
  }
  return full;
}

/** Transactions sorted by time (ties in customer, then draw order), ids "0".."n-1" in that order; deterministic for a seed. */
export function simulateTransactions(options: Partial<SimulationOptions> = {}): SimulatedTransaction[] {
  const o = resolved(options);

  const profiles = seededRng(`${o.seed}:customers`);
  const customerX = new Float64Array(o.customers);
  const customerY = new Float64Array(o.customers);
  const meanAmount = new Float64Array(o.customers);
  const meanPerDay = new Float64Array(o.customers);
  for (let c = 0; c < o.customers; c++) {
    customerX[c] = profiles() * GRID_SIZE;
    customerY[c] = profiles() * GRID_SIZE;
    meanAmount[c] = 5 + profiles() * 95;
    meanPerDay[c] = profiles() * 4;
  }
  const places = seededRng(`${o.seed}:terminals`);
  const terminalX = new Float64Array(o.terminals);
  const terminalY = new Float64Array(o.terminals);
  for (let k = 0; k < o.terminals; k++) {
    terminalX[k] = places() * GRID_SIZE;
    terminalY[k] = places() * GRID_SIZE;
  }

  // Transactions in draw order: customer by customer, day by day.
  const day: number[] = [];
  const second: number[] = [];
  const customer: number[] = [];
  const terminal: number[] = [];
  const amount: number[] = [];
  const customerStart = new Int32Array(o.customers + 1);
  const radiusSquared = o.radius * o.radius;
  for (let c = 0; c < o.customers; c++) {
    customerStart[c] = day.length;
    const nearby: number[] = [];
    for (let k = 0; k < o.terminals; k++) {
      const dx = customerX[c] - terminalX[k];
      const dy = customerY[c] - terminalY[k];
      if (dx * dx + dy * dy < radiusSquared) nearby.push(k);
    }
    const rng = seededRng(`${o.seed}:customer:${c}`);
    for (let d = 0; d < o.days; d++) {
      for (let n = poisson(rng, meanPerDay[c]); n > 0; n--) {
        const time = Math.trunc(normal(rng, DAY_SECONDS / 2, TIME_OF_DAY_STD_SECONDS));
        if (time <= 0 || time >= DAY_SECONDS) continue;
        let value = normal(rng, meanAmount[c], meanAmount[c] / 2);
        if (value < 0) value = rng() * 2 * meanAmount[c];
        const k = nearby[Math.floor(rng() * nearby.length)];
        if (k === undefined) continue;
        day.push(d);
        second.push(d * DAY_SECONDS + time);
        customer.push(c);
        terminal.push(k);
        amount.push(cents(value));
      }
    }
  }
  customerStart[o.customers] = day.length;
  const n = day.length;

  const fraud = new Uint8Array(n);
  const scenario = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (amount[i] > FRAUD_AMOUNT_THRESHOLD) {
      fraud[i] = 1;
      scenario[i] = 1;
    }
  }
  const byTerminal: number[][] = Array.from({ length: o.terminals }, () => []);
  for (let i = 0; i < n; i++) byTerminal[terminal[i]].push(i);
  const frauds = seededRng(`${o.seed}:frauds`);
  for (let d = 0; d < o.days; d++) {
    for (const k of distinct(frauds, o.terminals, countForDay(frauds, o.compromisedTerminalsPerDay))) {
      for (const i of byTerminal[k]) {
        if (day[i] >= d && day[i] < d + COMPROMISED_TERMINAL_DAYS) {
          fraud[i] = 1;
          scenario[i] = 2;
        }
      }
    }
    for (const c of distinct(frauds, o.customers, countForDay(frauds, o.compromisedCustomersPerDay))) {
      const exposed: number[] = [];
      for (let i = customerStart[c]; i < customerStart[c + 1]; i++) if (day[i] >= d && day[i] < d + COMPROMISED_CUSTOMER_DAYS) exposed.push(i);
      // A random third of them: the first picks of a partial Fisher-Yates shuffle.
      const picks = Math.floor(exposed.length / 3);
      for (let p = 0; p < picks; p++) {
        const q = p + Math.floor(frauds() * (exposed.length - p));
        [exposed[p], exposed[q]] = [exposed[q], exposed[p]];
        const i = exposed[p];
        amount[i] = cents(amount[i] * COMPROMISED_AMOUNT_FACTOR);
        fraud[i] = 1;
        scenario[i] = 3;
      }
    }
  }

  const order = timeOrder(Float64Array.from(second));
  const out = new Array<SimulatedTransaction>(n);
  for (let rank = 0; rank < n; rank++) {
    const i = order[rank];
    out[rank] = {
      transaction_id: String(rank),
      tx_datetime: o.startMs + second[i] * 1000,
      customer_id: String(customer[i]),
      terminal_id: String(terminal[i]),
      tx_amount: amount[i],
      tx_fraud: fraud[i] as 0 | 1,
      scenario: scenario[i] as SimulatedTransaction['scenario'],
    };
  }
  return out;
}
