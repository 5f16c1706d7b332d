/**
 * A trained model in the TensorFlow.js weights format: a model JSON (the kind, its model
 * config, a standard `weightsManifest`, training metadata) and `weights.bin`, written with
 * tf.io.encodeWeights and read back with tf.io.decodeWeights. The folder is named after the
 * weights' SHA-256, so re-saving identical weights is a no-op. Any kind's model fits: the
 * kind turns config + tensors back into its model.
 */
import * as tf from '@tensorflow/tfjs';
import { sha256Hex, type ArtifactRef } from '../../schemas/artifacts';
import type { ObjectStore } from './object-store';
import type { NamedTensor } from '../../ml/training-hooks';
import type { ModelBundle } from '../model-kinds/contract';

export const BUNDLE_FORMAT = 'storeloop-tfjs-weights/2';

export interface ModelJson {
  format: typeof BUNDLE_FORMAT;
  kind: string;
  config: Record<string, unknown>;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  weightsSha256: string;
  trainedWith: { backend: string; tfjsVersion: string };
  /** history (EpochReport[]), bestEpoch, and what the kind added. */
  metadata: Record<string, unknown>;
}

export async function saveModelBundle(
  store: ObjectStore,
  prefix: string,
  kind: string,
  weights: NamedTensor[],
  config: Record<string, unknown>,
  trainedWith: ModelJson['trainedWith'],
  metadata: Record<string, unknown>,
): Promise<ArtifactRef> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  const bytes = new Uint8Array(data);
  const weightsSha256 = sha256Hex(bytes);
  const folder = `${prefix}/${weightsSha256}`;
  const modelJson: ModelJson = { format: BUNDLE_FORMAT, kind, config, weightsManifest: [{ paths: ['weights.bin'], weights: specs }], weightsSha256, trainedWith, metadata };
  const json = Buffer.from(JSON.stringify(modelJson, null, 1));
  await store.putOnce(`${folder}/weights.bin`, bytes, weightsSha256);
  // model.json varies with the training run's metadata (timings, history) for the same weights:
  // each version is named by its own hash, so a rerun never changes a file an earlier result names.
  const jsonSha256 = sha256Hex(json);
  const key = `${folder}/model-${jsonSha256}.json`;
  await store.putOnce(key, json, jsonSha256);
  return { uri: store.uri(key), key, sha256: jsonSha256, bytes: json.byteLength, format: 'tfjs' };
}

/**
 * Reads a bundle from the folder holding its model JSON (`model.json` in a version,
 * `model-<sha256>.json` in training artifacts) and weights.bin. The weights are checked
 * against the hash model.json records, and model.json against `modelJsonSha256` where the
 * caller knows it (the training step's reference, a version's manifest): either mismatch is
 * an IntegrityError.
 */
export async function loadModelBundle(store: ObjectStore, modelJsonKey: string, kind: string, modelJsonSha256?: string): Promise<ModelBundle> {
  const json = await store.getJson<ModelJson>(modelJsonKey, modelJsonSha256);
  if (json.format !== BUNDLE_FORMAT) throw new Error(`${modelJsonKey}: unsupported model format ${String(json.format)}`);
  if (json.kind !== kind) throw new Error(`${modelJsonKey}: a ${json.kind} model, not ${kind}`);
  const folder = modelJsonKey.slice(0, modelJsonKey.lastIndexOf('/'));
  const group = json.weightsManifest[0];
  const bytes = await store.getBytes(`${folder}/${group.paths[0]}`, json.weightsSha256);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { config: json.config, tensors: tf.io.decodeWeights(buffer, group.weights), weightsSha256: json.weightsSha256, metadata: json.metadata };
}
