/**
 * The web console end to end in headless Debian Chromium (playwright-core, no browser
 * download): it shows a model the test trained, rolls it back through the page, and the
 * alias in S3 follows. Actions without the token, and from a page that saw an older
 * champion, are refused. Screenshots of the main pages go to .data/screenshots/.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { openBrowser, skipWithoutChromium, type Browser } from './browser';
import { testStack, log } from './test-stack';
import { seedDataset, TINY } from './ops-fixtures';
import { runLifecycle } from '../../cli/local-run';
import { applyAliasChange, planPromotion, readChampion, readVersionManifest, versionPrefix } from '../../activities/registry/serving-registry';
import { startConsole, type ConsoleServer } from '../../console/server';

const TOKEN = 'console-test-token';
const SCREENSHOTS = path.join(process.env.STORELOOP_DATA_DIR ?? '.data', 'screenshots');

describe('the web console in a real browser @integration', function () {
  let browser: Browser | undefined;
  let server: ConsoleServer | undefined;

  before(function () {
    skipWithoutChromium(this);
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function submitRollback(page: Page, token: string): Promise<void> {
    const form = page.locator('form[action$="/rollback"]');
    await form.locator('input[name=by]').fill('carol');
    await form.locator('input[name=reason]').fill('v2 regressed on mobile');
    await form.locator('input[name=token]').fill(token);
    await form.getByRole('button', { name: 'Roll back' }).click();
    await page.waitForLoadState('load');
  }

  it('shows the trained model, rolls it back through the page, and refuses actions without the token or from a stale page', async () => {
    const { config, workers } = await testStack();
    const { store } = workers;
    const dataset = `console-${Date.now()}`;
    const model = `${dataset}-next-item`;
    await seedDataset(store, dataset);
    const run = await runLifecycle(workers.client, config, { dataset, hyperparameters: TINY });
    assert.equal(run.status, 'completed', run.status === 'failed' ? run.error : '');
    const trained = run.summary.version!;
    // A second version of the same model (its manifest under a new id), promoted by an operator.
    const second = `${trained}-b`;
    const manifest = await readVersionManifest(store, model, trained);
    await store.put(`${versionPrefix(model, second)}/manifest.json`, JSON.stringify({ ...manifest, version: second }), 'application/json');
    await applyAliasChange(store, await planPromotion(store, model, second, { by: 'bob', reason: 'try b' }));

    server = await startConsole({ store, client: workers.client, config, log, token: TOKEN });
    browser = await openBrowser();
    const { page } = browser;
    mkdirSync(SCREENSHOTS, { recursive: true });

    await page.goto(server.url);
    await page.getByRole('link', { name: model }).first().waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console-models.png'), fullPage: true });
    await page.getByRole('link', { name: model }).first().click();
    await page.getByText(`Champion: ${second}`).waitFor();
    const versionRows = page.locator('h2:has-text("Versions") + table tbody tr');
    assert.equal(await versionRows.count(), 2);
    assert.match((await page.locator('h2:has-text("Alias history") + table').innerText()), /promote\s+\S+\s+\S+\s+bob/);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console-model.png'), fullPage: true });

    // Without the right token: refused on the page, the alias untouched.
    await submitRollback(page, 'not-the-token');
    await page.getByText('refused: wrong operator token').waitFor();
    assert.equal((await readChampion(store, model))?.alias.version, second);

    await page.goto(`${server.url}/models/${model}`);
    await submitRollback(page, TOKEN);
    await page.getByText(`rolled back: ${trained} is the champion again`).waitFor();
    const live = await readChampion(store, model);
    assert.equal(live?.alias.version, trained);
    assert.equal(live?.alias.action, 'rollback');
    assert.equal(live?.alias.promotedBy, 'carol (console)');
    assert.equal(live?.alias.reason, 'v2 regressed on mobile');

    // A page loaded before someone else's change cannot overwrite it.
    await page.goto(`${server.url}/models/${model}`);
    await applyAliasChange(store, await planPromotion(store, model, second, { by: 'dave', reason: 'meanwhile' }));
    await submitRollback(page, TOKEN);
    await page.getByText(/refused: the champion changed since this page was loaded \(now .*-b, by dave\)/).waitFor();
    assert.equal((await readChampion(store, model))?.alias.promotedBy, 'dave');

    await page.goto(`${server.url}/runs/${run.workflowId}`);
    await page.getByText('Run report').waitFor();
    assert.equal(await page.locator('h2:has-text("Steps") + table tbody tr').count(), 7);
    assert.ok((await page.locator('.report img').count()) >= 1, 'the report\'s charts are shown');
    await page.locator('.report h3:has-text("By user activity tier") + p + table').waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console-run.png'), fullPage: true });
  });
});
