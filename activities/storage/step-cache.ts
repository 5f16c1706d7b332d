/**
 * Content-keyed step caching: a step's output is reused when the same step, at the same
 * code version, saw the same input artifacts (by hash) and the same configuration.
 * `force` recomputes and overwrites the cache entry. A hit reports how long the original
 * computation took (`savedMs`), which the run report shows as time saved.
 */
import { sha256Hex } from '../../schemas/artifacts';
import { CODE_VERSION } from '../../infra/code-version';
import { stableJson, type ObjectStore } from './object-store';

export async function cachedStep<T extends object>(
  store: ObjectStore,
  step: string,
  keyMaterial: unknown,
  force: boolean,
  compute: () => Promise<T>,
): Promise<T & { cached: boolean; savedMs?: number }> {
  // Named by the hash of its key, not of its content ("key-" keeps it from reading as content-addressed).
  const key = `cache/${step}/key-${sha256Hex(stableJson({ step, codeVersion: CODE_VERSION, keyMaterial }))}.json`;
  if (!force) {
    const hit = await store.getJsonIfExists<{ result: T; computeMs: number }>(key);
    if (hit) return { ...hit.value.result, cached: true, savedMs: hit.value.computeMs };
  }
  const started = Date.now();
  const result = await compute();
  await store.put(key, stableJson({ result, computeMs: Date.now() - started }), 'application/json');
  return { ...result, cached: false };
}
