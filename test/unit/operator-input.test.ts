import assert from 'node:assert/strict';
import { ApprovalDecision, RollbackRequest, describeIssues } from '../../schemas/operator-input';
import { parseLifecycleInput, parseModelName, servingModelName } from '../../schemas/lifecycle-input';
import { KIND_NAMES } from '../../activities/model-kinds/registry';

describe('operator input', () => {
  it('parses model names back into dataset and kind', () => {
    assert.deepEqual(parseModelName('amazon-beauty-next-item', KIND_NAMES), { dataset: 'amazon-beauty', kind: 'next-item' });
    assert.equal(servingModelName(parseModelName('store-next-item', KIND_NAMES)), 'store-next-item');
    for (const bad of ['next-item', 'store', '../x-next-item', 'a..b-next-item']) assert.throws(() => parseModelName(bad, KIND_NAMES), /must be <dataset>-<kind>/);
  });

  it('names what is wrong with an approval decision or rollback request', () => {
    const bad = ApprovalDecision.safeParse({ approve: 'yes', by: '', extra: 1 });
    assert.ok(!bad.success);
    assert.match(describeIssues(bad.error), /extra: unknown field/);
    assert.deepEqual(RollbackRequest.parse({ model: 'store-next-item' }), { model: 'store-next-item', by: 'rollback workflow', reason: 'rollback' });
  });

  it('defaults approval off with a 24h timeout and refuses durations it cannot read', () => {
    const config = parseLifecycleInput({});
    assert.deepEqual([config.requireApproval, config.approvalTimeout], [false, '24h']);
    assert.throws(() => parseLifecycleInput({ approvalTimeout: '1 week' }), /approvalTimeout: must be a duration/);
  });
});
