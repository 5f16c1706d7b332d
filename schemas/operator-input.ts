/**
 * What operators send to storeloop besides the lifecycle input: approval decisions for a
 * waiting run and rollback requests. Validated with zod where they arrive (an update's
 * validator, a workflow's first line), so a malformed request is refused with a message
 * naming the field instead of half-applied.
 */
import { z } from 'zod';

const operator = z.string().trim().min(1, 'must name the person deciding').max(200);
const reason = z.string().trim().max(2000);

export const ApprovalDecision = z
  .object({
    approve: z.boolean(),
    /** Who decided; recorded in the summary and, when approved, in the promotion record. */
    by: operator,
    reason: reason.optional(),
  })
  .strict();
export type ApprovalDecision = z.output<typeof ApprovalDecision>;

export const RollbackRequest = z
  .object({
    /** Served model, `<dataset>-<kind>`. */
    model: z.string().min(1).max(200),
    by: operator.default('rollback workflow'),
    reason: reason.default('rollback'),
  })
  .strict();
export type RollbackRequest = z.output<typeof RollbackRequest>;

/** zod's issues as one line: "by: must name the person deciding; approve: expected boolean". */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => `${i.code === 'unrecognized_keys' ? i.keys.join(', ') : i.path.map(String).join('.') || '(input)'}: ${i.code === 'unrecognized_keys' ? 'unknown field' : i.message}`)
    .join('; ');
}
