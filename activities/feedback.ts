/**
 * feedback: online metrics of the served model versions and the drift between the
 * training data and recent traffic, from `feedback/<model>/date=YYYY-MM-DD/*.arrow`
 * (what the serving side logged, in the kind's feedback schema).
 *
 * The window is the `windowDays` days before the run's data cut-off (or its start). Files
 * are streamed batch by batch, one day at a time, oldest first, into the kind's walk, which
 * joins and counts (a day's outcomes with that day's and the day before's requests, say),
 * so memory follows a day or two of traffic, not the window. Alarms are the host's: a PSI
 * above its threshold, or the kind's guarded online metric dropping between versions. An
 * empty window is a valid outcome: "no feedback yet".
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

/** The newest version against the one served before it, on the kind's guarded metric, in its direction. */
export function onlineDropAlarm(perVersion: Record<string, OnlineMetrics>, guarded: MetricSpec, config: FeedbackConfig): string | null {
  const live = Object.entries(perVersion)
    .filter(([, m]) => m.requests >= config.minRequests && Number.isFinite(m.metrics[guarded.name]))
    .sort(([, a], [, b]) => a.firstSeen.localeCompare(b.firstSeen));
  if (live.length < 2) return null;
  const [[before, previous], [newest, current]] = live.slice(-2);
  const was = previous.metrics[guarded.name];
  const now = current.metrics[guarded.name];
  const drop = guarded.direction === 'higher' ? (was > 0 ? 1 - now / was : 0) : was > 0 ? now / was - 1 : 0;
  if (drop <= config.maxOnlineDrop) return null;
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
  for (const measure of Object.values(drift)) {
    if (measure.psi !== null && measure.psi > measure.threshold) alarms.push(`${measure.label} drifted: PSI ${measure.psi.toFixed(3)} > ${measure.threshold}`);
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
