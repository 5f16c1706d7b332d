/**
 * Headless Debian Chromium for the end-to-end tests, driven by playwright-core (which
 * downloads no browser). `.ci/run` installs the Debian package; without it the tests skip.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

/** Skips the suite (from its `before` hook) when Chromium is not installed. */
export function skipWithoutChromium(context: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  console.warn(`  skipped: ${CHROMIUM} is absent (apt-get install -y chromium; .ci/run installs it)`);
  context.skip();
}

export interface Browser {
  page: Page;
  close(): Promise<void>;
}

/** A fresh profile and one page; close() removes the profile. */
export async function openBrowser(): Promise<Browser> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'storeloop-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
