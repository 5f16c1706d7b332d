/**
 * End to end through the real Temporal UI: headless Debian Chromium driven by
 * playwright-core (no browser download) opens the local UI's Start Workflow form, starts
 * a retraining exactly as an operator would, and sees the run complete.
 */
import assert from 'node:assert/strict';
import { testStack } from './test-stack';
import { openBrowser, skipWithoutChromium, type Browser } from './browser';
import { eventually, seedDataset, TINY } from './ops-fixtures';
import type { LifecycleSummary } from '../../workflows/lifecycle';

describe('retraining from the Temporal UI in a real browser @integration', function () {
  let browser: Browser | undefined;

  before(function () {
    skipWithoutChromium(this);
  });

  after(async () => {
    await browser?.close();
  });

  it('starts modelLifecycle through the Start Workflow form and shows it completed', async () => {
    const { config, workers } = await testStack();
    const dataset = `ui-${Date.now()}`;
    await seedDataset(workers.store, dataset);

    // The dev server's UI must allow starting workflows (Temporal CLI 1.5.1 / UI 2.42 do by default).
    const settings = (await (await fetch(`${config.temporal.uiUrl}/api/v1/settings`)).json()) as Record<string, unknown>;
    assert.deepEqual([settings.StartWorkflowDisabled, settings.DisableWriteActions], [false, false]);

    browser = await openBrowser();
    const { page } = browser;
    const workflowId = `ui-retrain-${Date.now()}`;
    const input = { dataset, trainingTaskQueue: config.temporal.trainingTaskQueue, force: true, hyperparameters: TINY };

    await page.goto(`${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/start-workflow`);
    await page.getByTestId('workflowId').fill(workflowId);
    await page.getByTestId('taskQueue').fill(config.temporal.pipelineTaskQueue);
    await page.getByTestId('workflowType').fill('modelLifecycle');
    await page.locator('.cm-content').first().click();
    await page.keyboard.insertText(JSON.stringify(input)); // insertText: no auto-closed brackets
    // The input editor hands its text to the form when it loses focus, as it does for a person.
    await page.getByText('Start a Workflow').click();
    await page.getByTestId('start-workflow-button').click();

    const handle = workers.client.workflow.getHandle(workflowId);
    const started = await eventually('the run started from the form', () => handle.describe(), 30_000);
    assert.equal(started.type, 'modelLifecycle');
    const summary = (await handle.result()) as LifecycleSummary;
    assert.equal(summary.status, 'completed');
    assert.equal(summary.model, `${dataset}-next-item`);
    assert.equal(summary.training.cached, false, 'force from the form reached the workflow');

    await page.goto(`${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${workflowId}`);
    await page.getByText('Completed').first().waitFor({ timeout: 30_000 });
    assert.match(await page.content(), /modelLifecycle/);
  });
});
