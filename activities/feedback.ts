/**
 * feedback: online metrics of the served model versions and the drift between the
 * training data and recent traffic, from `feedback/<model>/date=YYYY-MM-DD/*.arrow`
 * (what the serving side logged, in the kind's feedback schema).
 *
 * The window is the `windowDays` days before the run's data cut-off (or its start). Files
 * are streamed batch by batch, one day at a time, oldest first, into the kind's walk, which
 * joins and counts (a day's outcomes with that day's and the day before's requests, say),
 * so memory follows a day or two of traffic, not the window. Alarms are the host's: a PSI
 * above its threshold, or the kind's guarded online metric dropping between versions, each
 * only with enough requests and distinct users (onlineDropAlarm). An empty window is a valid
 * outcome: "no feedback yet".
 */
import { createKindRuntime } from './kind-runtime';
import { readBatches } from './storage/arrow-io';
import { servingModelName, type FeedbackConfig } from '../schemas/lifecycle-input';
import type { RecordBatch } from 'apache-arrow';
import type { AnyModelKind, FeedbackHandler, MetricSpec } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { FeedbackResult, OnlineMetrics, PreprocessResult, StepContext } from '../schemas/steps';
import type { Logger } from 'pino';

const DAY_MS = 86_400_000;

/** Arrow gives timestamps as numbers, bigints or Dates; contracts also allow ISO strings and epoch seconds. */
export function timestampMs(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value === 'string') return /^\d+(\.\d+)?$/.test(value) ? timestampMs(Number(value)) : Date.parse(value);
  const n = Number(value);
  return n < 1e11 ? n * 1000 : n; // epoch seconds until the year 5138
}

/** The rows of one Arrow batch that meet the kind's feedback contract and fall in the window; the others are counted, not thrown. */
function* validRows(handler: FeedbackHandler, batch: RecordBatch, startMs: number, endMs: number, invalid: { rows: number }): Generator<Record<string, unknown>> {
  const columns = handler.arrow.fields.map((f) => [f.name, batch.getChild(f.name)] as const).filter(([, vector]) => vector !== null);
  for (let row = 0; row < batch.numRows; row++) {
    const raw: Record<string, unknown> = {};
    for (const [name, vector] of columns) {
      const value = vector!.get(row);
      raw[name] = typeof value === 'bigint' || value instanceof Date ? timestampMs(value) : value;
    }
    const parsed = handler.row.safeParse(raw);
    if (!parsed.success) {
      invalid.rows++;
      continue;
    }
    const at = timestampMs(parsed.data.timestamp);
    if (at >= startMs && at < endMs) yield parsed.data;
  }
}

/** One-sided z of a significant change in a share (1%): below it, a drop in hit rate or accuracy may be chance. */
const SIGNIFICANT_Z = 2.326;

/** A version's count by metric key; 'requests' is its request count. */
const countOf = (m: OnlineMetrics, key: string) => (key === 'requests' ? m.requests : m.metrics[key]);

/** Whether the newest share is worse than the previous one beyond chance: a pooled two-proportion z-test. */
function significantlyWorse(previous: OnlineMetrics, current: OnlineMetrics, guarded: MetricSpec & { proportion: NonNullable<MetricSpec['proportion']> }): boolean {
  const { successes, trials } = guarded.proportion;
  const [s1, n1, s2, n2] = [countOf(previous, successes), countOf(previous, trials), countOf(current, successes), countOf(current, trials)];
  if (![s1, n1, s2, n2].every(Number.isFinite) || n1 <= 0 || n2 <= 0) return false;
  const pooled = (s1 + s2) / (n1 + n2);
  const standardError = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (!(standardError > 0)) return false;
  const worse = guarded.direction === 'higher' ? s1 / n1 - s2 / n2 : s2 / n2 - s1 / n1;
  return worse / standardError >= SIGNIFICANT_Z;
}

/** Distinct users behind a version's numbers: its served users where the kind names them, else its requests. */
const usersOf = (m: OnlineMetrics) => m.users ?? m.requests;

/**
 * The newest version against the one served before it, on the kind's guarded metric, in its
 * direction. No alarm from thin or degenerate numbers: each version needs `minRequests`
 * requests and `minUsers` distinct users, the baseline must be above zero (a relative change
 * from zero means nothing), and a share (hit rate, accuracy) must drop beyond chance.
 */
export function onlineDropAlarm(perVersion: Record<string, OnlineMetrics>, guarded: MetricSpec, config: FeedbackConfig): string | null {
  const comparable = Object.entries(perVersion)
    .filter(([, m]) => m.requests >= config.minRequests && usersOf(m) >= config.minUsers && Number.isFinite(m.metrics[guarded.name]))
    .sort(([, a], [, b]) => a.firstSeen.localeCompare(b.firstSeen));
  if (comparable.length < 2) return null;
  const [[before, previous], [newest, current]] = comparable.slice(-2);
  const was = previous.metrics[guarded.name];
  const now = current.metrics[guarded.name];
  if (!(was > 0)) return null;
  const drop = guarded.direction === 'higher' ? 1 - now / was : now / was - 1;
  if (!(drop > config.maxOnlineDrop)) return null;
  if (guarded.proportion && !significantlyWorse(previous, current, { ...guarded, proportion: guarded.proportion })) return null;
  return `${guarded.label} of ${newest} (${now.toFixed(4)}) is ${(drop * 100).toFixed(0)}% worse than ${before} (${was.toFixed(4)}); the limit is ${(config.maxOnlineDrop * 100).toFixed(0)}%`;
}

export async function measureFeedback(store: ObjectStore, log: Logger, kind: AnyModelKind, ctx: StepContext, prepared: PreprocessResult): Promise<FeedbackResult> {
  const config = ctx.config.feedback;
  // A backfilled night measures the traffic before its cut-off, as that night would have.
  const endMs = Date.parse(ctx.config.dataCutoff ?? ctx.startedAt);
  const startMs = endMs - config.windowDays * DAY_MS;
  const walk = kind.feedback.start(createKindRuntime(store, log, ctx), prepared, config);
  const invalid = { rows: 0 };
  let files = 0;
  let events = 0;
  for (let day = startMs - (startMs % DAY_MS); day < endMs; day += DAY_MS) {
    const prefix = `feedback/${servingModelName(ctx.config)}/date=${new Date(day).toISOString().slice(0, 10)}/`;
    for (const object of await store.list(prefix)) {
      if (!object.key.endsWith('.arrow')) continue;
      files++;
      for await (const batch of readBatches(store, object.key)) {
        for (const row of validRows(kind.feedback, batch, startMs, endMs, invalid)) {
          walk.add(row);
          events++;
        }
      }
    }
    walk.endDay();
  }
  const perVersion = walk.perVersion();
  const drift = await walk.drift((name) => config.psiThresholds[name] ?? config.maxPsi, config.minRequests);
  const alarms: string[] = [];
  // Traffic from a handful of users is no population to compare with the training data: no drift alarm from it.
  // The most users any one version served is a lower bound of the window's distinct users.
  const windowUsers = Math.max(0, ...Object.values(perVersion).map(usersOf));
  for (const measure of Object.values(drift)) {
    if (measure.psi !== null && Number.isFinite(measure.psi) && measure.psi > measure.threshold && windowUsers >= config.minUsers) alarms.push(`${measure.label} drifted: PSI ${measure.psi.toFixed(3)} > ${measure.threshold}`);
  }
  const guarded = kind.feedback.online.find((m) => m.name === kind.feedback.guarded)!;
  const drop = onlineDropAlarm(perVersion, guarded, config);
  if (drop) alarms.push(drop);
  return {
    status: events === 0 ? 'no-feedback' : 'measured',
    window: { from: new Date(startMs).toISOString(), to: new Date(endMs).toISOString() },
    files,
    events,
    invalidRows: invalid.rows,
    perVersion,
    drift,
    alarms,
  };
}
