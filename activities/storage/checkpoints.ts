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
