/**
 * Heartbeats and cancellation for long activities. The same step code also runs outside
 * Temporal (benchmarks), where there is no activity context: then these do nothing.
 */
import { Context } from '@temporalio/activity';

function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function heartbeat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

export function isCancelled(): boolean {
  return activityContext()?.cancellationSignal.aborted ?? false;
}

/**
 * True when the workflow asked this activity to stop. Unlike isCancelled, false after a
 * heartbeat timeout, pause or reset, after which the activity is retried and resumes.
 */
export function cancellationRequested(): boolean {
  return activityContext()?.cancellationDetails?.cancelRequested ?? false;
}

/** Details of the last heartbeat of a previous attempt of this activity (after a crash). */
export function previousHeartbeat<T>(): T | undefined {
  return activityContext()?.info.heartbeatDetails as T | undefined;
}

/**
 * Identifies this activity across its retries (workflow run + activity id), or undefined
 * outside Temporal, where nothing retries.
 */
export function activityKey(): string | undefined {
  const info = activityContext()?.info;
  return info && `${info.workflowExecution?.runId ?? 'standalone'}/${info.activityId}`;
}

/**
 * storeloop's step metrics, recorded through the worker's Temporal metric meter so that
 * they are exported with the SDK's own on the worker's Prometheus address
 * (`storeloop_step_duration_seconds`, `storeloop_step_rows_total`). Nothing outside Temporal.
 */
export function recordStepMetrics(step: string, kind: string, outcome: 'completed' | 'failed' | 'cancelled', seconds: number, rows?: number): void {
  const meter = activityContext()?.metricMeter;
  if (!meter) return;
  const tagged = meter.withTags({ step, kind, outcome });
  tagged.createHistogram(STEP_DURATION_METRIC, 'float', 'seconds', 'Time a lifecycle step took, retries counted separately').record(seconds);
  if (rows !== undefined) tagged.createCounter('storeloop_step_rows', 'rows', 'Rows a lifecycle step read or produced').add(rows);
}

export const STEP_DURATION_METRIC = 'storeloop_step_duration';
/** Steps take from milliseconds (a cached step) to hours (training). */
export const STEP_DURATION_BUCKETS_SECONDS = [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];
