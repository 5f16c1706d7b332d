/**
 * The wrapper every step activity runs in: it names the step in the log, reports a
 * cancellation as a cancellation, and turns errors that retrying cannot fix (bad input
 * files, unknown kinds, lost promotion races, corrupt stored data) into non-retryable failures typed by name.
 */
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { TooManyBadRowsError } from './collect/collect';
import { InvalidInputFileError } from './collect/raw-files';
import { ChampionChangedError, NoPreviousChampionError } from './registry/serving-registry';
import { UnknownModelKindError } from './model-kinds/registry';
import { InputDataError } from './errors';
import { PseudonymKeyError } from './privacy/pseudonyms';
import { UndeclaredPersonalColumnError } from './privacy/personal-data';
import { isCancelled, recordStepMetrics } from './progress';
import { assertSafeKeySegment, IntegrityError, StorageUnavailableError } from './storage/object-store';
import { InvalidWorkflowInputError } from '../schemas/lifecycle-input';
import type { StepContext } from '../schemas/steps';
import type { Logger } from 'pino';

const NON_RETRYABLE = [InvalidInputFileError, TooManyBadRowsError, ChampionChangedError, NoPreviousChampionError, InputDataError, UnknownModelKindError, InvalidWorkflowInputError, IntegrityError, StorageUnavailableError, PseudonymKeyError, UndeclaredPersonalColumnError];

export const isNonRetryable = (error: Error) => NON_RETRYABLE.some((type) => error instanceof type);

/**
 * What TensorFlow (native or JS) and V8 throw when an allocation fails. Retrying the same
 * configuration on the same worker fails the same way, or kills the worker.
 */
const OUT_OF_MEMORY = /\bOOM\b|out of memory|Array buffer allocation failed|Invalid typed array length|Invalid array length|Cannot create a string longer/i;

/** A failure's text reaches the Temporal history, the logs and gRPC: bounded, whatever the error quoted. */
const MAX_FAILURE_CHARS = 2_000;

function bounded(message: string): string {
  return message.length <= MAX_FAILURE_CHARS ? message : `${message.slice(0, MAX_FAILURE_CHARS)}... (${Buffer.byteLength(message)} bytes in all)`;
}

/** `rowsOf` names the rows a step's result counts, for its metrics. */
export async function step<T>(name: string, ctx: StepContext, log: Logger, work: () => Promise<T>, rowsOf?: (result: T) => number): Promise<T> {
  assertSafeKeySegment(ctx.config.dataset, 'dataset');
  const started = Date.now();
  const seconds = () => (Date.now() - started) / 1000;
  try {
    const result = await work();
    log.info({ step: name, kind: ctx.config.kind, workflowId: ctx.workflowId, ms: Date.now() - started }, 'step finished');
    recordStepMetrics(name, ctx.config.kind, 'completed', seconds(), rowsOf?.(result));
    return result;
  } catch (error) {
    const err = error as Error;
    recordStepMetrics(name, ctx.config.kind, isCancelled() ? 'cancelled' : 'failed', seconds());
    if (isCancelled()) {
      // Reported as a cancellation, not a failure, so Temporal records the step as cancelled.
      log.warn({ step: name, workflowId: ctx.workflowId, ms: Date.now() - started }, 'step cancelled');
      throw new CancelledFailure(err.message);
    }
    const message = bounded(err.message);
    if (isNonRetryable(err)) {
      log.error({ step: name, workflowId: ctx.workflowId, error: message }, 'step failed: not retryable');
      throw ApplicationFailure.nonRetryable(message, err.name);
    }
    if (OUT_OF_MEMORY.test(err.message)) {
      const configuration = `${ctx.config.kind} with hyperparameters ${JSON.stringify(ctx.config.hyperparameters)}`;
      log.error({ step: name, workflowId: ctx.workflowId, error: message }, 'step ran out of memory: not retryable');
      throw ApplicationFailure.nonRetryable(`${name} ran out of memory for ${configuration}: ${message}. Use a smaller configuration or a worker with more memory.`, 'OutOfMemory');
    }
    log.warn({ step: name, workflowId: ctx.workflowId, error: message }, 'step failed; Temporal will retry');
    throw message === err.message ? error : ApplicationFailure.retryable(message, err.name);
  }
}
