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
