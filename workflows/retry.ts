/** The retry policy of every lifecycle activity: errors that retrying cannot fix are named here. */
import type { RetryPolicy } from '@temporalio/workflow';

export const ACTIVITY_RETRY: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 5,
  nonRetryableErrorTypes: ['InvalidInputFileError', 'TooManyBadRowsError', 'ChampionChangedError'],
};
