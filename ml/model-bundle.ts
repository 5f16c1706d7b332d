/**
 * A trained model in the TensorFlow.js weights format: `model.json` (architecture config
 * plus a standard `weightsManifest`) and `weights.bin`, written with tf.io.encodeWeights
 * and read back with tf.io.decodeWeights. The folder is named after the weights' SHA-256,
 * so re-saving identical weights is a no-op.
 */
import * as tf from '@tensorflow/tfjs';
import { sha256Hex, type ArtifactRef } from '../schemas/artifacts';
import type { ObjectStore } from '../activities/storage/object-store';
import { createNextItemModel } from './models';
import type { NextItemModel, NextItemModelConfig } from './next-item-model';

export const BUNDLE_FORMAT = 'storeloop-tfjs-weights/1';

export interface ModelJson {
  format: typeof BUNDLE_FORMAT;
  config: NextItemModelConfig;
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  weightsSha256: string;
  trainedWith: { backend: string; tfjsVersion: string };
  metadata: Record<string, unknown>;
}

export async function saveModelBundle(
  store: ObjectStore,
  prefix: string,
  model: NextItemModel,
  trainedWith: ModelJson['trainedWith'],
  metadata: Record<string, unknown>,
): Promise<ArtifactRef> {
  const { data, specs } = await tf.io.encodeWeights(model.namedWeights());
  const weights = new Uint8Array(data);
  const weightsSha256 = sha256Hex(weights);
  const folder = `${prefix}/${weightsSha256}`;
  const modelJson: ModelJson = {
    format: BUNDLE_FORMAT,
    config: model.config,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    weightsSha256,
    trainedWith,
    metadata,
  };
  const json = Buffer.from(JSON.stringify(modelJson, null, 1));
  if (!(await store.head(`${folder}/weights.bin`))) await store.put(`${folder}/weights.bin`, weights);
  await store.put(`${folder}/model.json`, json, 'application/json');
  return { uri: store.uri(`${folder}/model.json`), key: `${folder}/model.json`, sha256: sha256Hex(json), bytes: json.byteLength, format: 'tfjs' };
}

/** Loads a bundle from the folder holding model.json and weights.bin. */
export async function loadModelBundle(store: ObjectStore, modelJsonKey: string): Promise<{ model: NextItemModel; json: ModelJson }> {
  const json = await store.getJson<ModelJson>(modelJsonKey);
  if (json.format !== BUNDLE_FORMAT) throw new Error(`${modelJsonKey}: unsupported model format ${String(json.format)}`);
  const folder = modelJsonKey.slice(0, modelJsonKey.lastIndexOf('/'));
  const group = json.weightsManifest[0];
  const bytes = await store.getBytes(`${folder}/${group.paths[0]}`);
  if (sha256Hex(bytes) !== json.weightsSha256) throw new Error(`${folder}/${group.paths[0]}: weights do not match their checksum`);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(buffer, group.weights);
  const model = createNextItemModel(json.config, tensors);
  tf.dispose(Object.values(tensors));
  return { model, json };
}
