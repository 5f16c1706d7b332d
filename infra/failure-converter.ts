/**
 * The failure converter of every client and worker that encrypts payloads (loaded by path,
 * `failureConverterPath`, because the workflow sandbox builds its own): a failure's message and
 * stack trace go into its encoded attributes, which the payload codec encrypts like any payload.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
