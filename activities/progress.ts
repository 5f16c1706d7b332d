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
