/**
 * Training checkpoints in S3: `<prefix>/step-<n>.bin` holds the tensors (model, optimizer
 * state, best-so-far weights) in the TensorFlow.js weights format, `<prefix>/step-<n>.json`
 * the loop's state and the weight specs. The JSON is written last, so a checkpoint whose
 * JSON exists is complete. The state is the training loop's own JSON; only its step is read here.
 */
import * as tf from '@tensorflow/tfjs';
import { sha256Hex } from '../../schemas/artifacts';
import type { ObjectStore } from './object-store';
import type { Checkpoint } from '../../ml/training-hooks';

interface CheckpointManifest {
  step: number;
  state: unknown;
  weights: string;
  /** Checked when the checkpoint is loaded; absent in checkpoints written before it was recorded. */
  weightsSha256?: string;
  specs: tf.io.WeightsManifestEntry[];
}

export async function saveCheckpoint(store: ObjectStore, prefix: string, step: number, checkpoint: Checkpoint): Promise<string> {
  const { data, specs } = await tf.io.encodeWeights(checkpoint.tensors);
  const base = `${prefix}/step-${String(step).padStart(8, '0')}`;
  await store.put(`${base}.bin`, new Uint8Array(data));
  const manifest: CheckpointManifest = { step, state: checkpoint.state, weights: `${base}.bin`, weightsSha256: sha256Hex(new Uint8Array(data)), specs };
  await store.put(`${base}.json`, JSON.stringify(manifest), 'application/json');
  return `${base}.json`;
}

export async function loadCheckpoint(store: ObjectStore, key: string): Promise<Checkpoint & { step: number }> {
  const manifest = await store.getJson<CheckpointManifest>(key);
  const bytes = await store.getBytes(manifest.weights, manifest.weightsSha256);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const named = tf.io.decodeWeights(buffer, manifest.specs);
  return { step: manifest.step, state: manifest.state, tensors: Object.entries(named).map(([name, tensor]) => ({ name, tensor })) };
}

/** The newest complete checkpoint under `prefix` (keys sort by zero-padded step). */
export async function latestCheckpoint(store: ObjectStore, prefix: string): Promise<string | undefined> {
  return (await store.list(`${prefix}/`)).filter((o) => o.key.endsWith('.json')).pop()?.key;
}

/** How long a run's checkpoints may sit unwritten before a sweep takes them for an orphan's: far longer than any epoch. */
export const CHECKPOINT_ORPHAN_AGE_MS = 3 * 24 * 3600_000;

/**
 * Deletes the checkpoints of training attempts that stopped writing them `olderThanMs` ago
 * and were never cleaned up (a run terminated while training, a worker lost for good):
 * every `<run>/<attempt>` under `checkpoints/<dataset>/` whose newest object is that old,
 * except `keep`, the caller's own. A live attempt writes every few minutes, so it is never
 * that old. Returns the objects removed.
 */
export async function sweepOrphanCheckpoints(store: ObjectStore, dataset: string, keep: string, olderThanMs = CHECKPOINT_ORPHAN_AGE_MS, now = Date.now()): Promise<number> {
  const root = `checkpoints/${dataset}/`;
  const newestByAttempt = new Map<string, number>();
  const objects = await store.list(root);
  // Keys are checkpoints/<dataset>/<workflowId>/<runId>/<activityId>/step-<n>.{bin,json}.
  const attemptOf = (key: string) => key.slice(0, key.lastIndexOf('/'));
  for (const o of objects) newestByAttempt.set(attemptOf(o.key), Math.max(newestByAttempt.get(attemptOf(o.key)) ?? 0, o.lastModified.getTime()));
  let removed = 0;
  for (const o of objects) {
    const attempt = attemptOf(o.key);
    if (attempt === keep || now - newestByAttempt.get(attempt)! < olderThanMs) continue;
    await store.delete(o.key);
    removed++;
  }
  return removed;
}
