/**
 * Public datasets in tests: a test that needs one skips, with a one-line reason, when it is
 * not on this machine, so `npm ci && npm test` passes on any fresh clone. CI sets
 * STORELOOP_REQUIRE_DATASETS=1, under which a missing dataset fails instead of skipping.
 */
import { datasetPath, missingDatasetReason } from '../infra/datasets';

/** The dataset file's path; skips the running test or hook (or fails, in CI) when it is absent. */
export function datasetOrSkip(context: Mocha.Context, ...parts: string[]): string {
  const file = datasetPath(...parts);
  const missing = missingDatasetReason(file);
  if (missing === null) return file;
  if (process.env.STORELOOP_REQUIRE_DATASETS === '1') throw new Error(`${missing} (STORELOOP_REQUIRE_DATASETS=1)`);
  console.warn(`      skipped: ${missing}`);
  return context.skip();
}
