/**
 * The approval gate: a run that asks for approval stops before deploy until an operator
 * sends the `approval` update ({"approve": true, "by": "alice", "reason": "..."}) or the
 * timeout passes. The validator refuses malformed decisions and decisions for a run that
 * is not waiting, so nothing about them lands in the history and the caller hears why.
 */
import { condition, setHandler } from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';
import { ApprovalDecision, describeIssues } from '../schemas/operator-input';
import { approvalUpdate, type ApprovalState, type LifecycleProgress } from './progress';

/** Registers the update handler (at workflow start) and returns the wait itself. */
export function installApprovalGate(progress: LifecycleProgress): (timeout: string) => Promise<ApprovalState> {
  setHandler(
    approvalUpdate,
    (decision) => {
      const { approve, by, reason } = ApprovalDecision.parse(decision);
      return Object.assign(progress.approval!, { status: approve ? 'approved' : 'rejected', by, reason });
    },
    {
      validator: (decision) => {
        const parsed = ApprovalDecision.safeParse(decision);
        if (!parsed.success) throw new Error(`invalid approval decision: ${describeIssues(parsed.error)}`);
        const state = progress.approval;
        if (state?.status !== 'waiting') {
          throw new Error(state ? `this run's approval is already ${state.status}${state.by ? ` (by ${state.by})` : ''}` : `this run is not waiting for approval (step: ${progress.currentStep ?? 'none'})`);
        }
      },
    },
  );

  return async (timeoutText) => {
    const timeout = timeoutText as Duration; // the input schema accepts only ms-style durations
    const state: ApprovalState = { status: 'waiting', deadline: new Date(Date.now() + msToNumber(timeout)).toISOString() };
    progress.approval = state;
    if (!(await condition(() => state.status !== 'waiting', timeout))) state.status = 'timed-out';
    return state;
  };
}

/** One line for the summary's reasons. */
export function describeApproval(state: ApprovalState): string {
  const who = state.by ? ` by ${state.by}${state.reason ? `: ${state.reason}` : ''}` : '';
  return state.status === 'timed-out' ? `no approval decision before ${state.deadline}; the champion stays` : `promotion ${state.status}${who}`;
}
