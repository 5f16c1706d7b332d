/**
 * Where the public datasets live (`../shared/datasets` beside the checkout by default, or
 * STORELOOP_DATASETS_DIR). The project never ships them: tests that need one skip with a
 * reason when it is absent, and benchmarks refuse with the same reason.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './config';

export function datasetsDir(): string {
  return path.resolve(process.env.STORELOOP_DATASETS_DIR ?? path.join(PROJECT_ROOT, '..', 'shared', 'datasets'));
}

/** A path inside the datasets folder (it may not exist). */
export function datasetPath(...parts: string[]): string {
  return path.join(datasetsDir(), ...parts);
}

/** Why a dataset file cannot be used, or null when it is there. */
export function missingDatasetReason(file: string): string | null {
  return existsSync(file) ? null : `${file} not found: point STORELOOP_DATASETS_DIR at the public datasets (README, "Datasets")`;
}
