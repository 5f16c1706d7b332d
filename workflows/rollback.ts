/**
 * Rollback as a workflow, for the Temporal UI's Start Workflow form (type `rollbackModel`,
 * input {"model": "store-next-item", "by": "alice", "reason": "bad CTR"}): restores the
 * previous champion with the same conditional alias swap the CLI uses, recorded in the history.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChampionAlias } from '../activities/registry/serving-registry';
import { RollbackRequest, describeIssues } from '../schemas/operator-input';
import { assertModelNameShape } from '../schemas/lifecycle-input';

const registry = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: ['ChampionChangedError', 'NoPreviousChampionError'] },
});

export async function rollbackModel(input: unknown): Promise<ChampionAlias> {
  const parsed = RollbackRequest.safeParse(input ?? {});
  if (!parsed.success) throw ApplicationFailure.nonRetryable(`invalid rollback input: ${describeIssues(parsed.error)}`, 'InvalidWorkflowInput');
  try {
    assertModelNameShape(parsed.data.model);
  } catch (error) {
    throw ApplicationFailure.nonRetryable((error as Error).message, 'InvalidWorkflowInput');
  }
  return registry.rollback(parsed.data, workflowInfo().workflowId);
}
