/** Builds a next-item model of the architecture a configuration names. */
import type * as tf from '@tensorflow/tfjs';
import { GruModel } from './gru';
import { SasrecModel } from './sasrec';
import type { NextItemModel, NextItemModelConfig } from './next-item-model';

export function createNextItemModel(config: NextItemModelConfig, initial?: tf.NamedTensorMap): NextItemModel {
  return config.architecture === 'gru' ? new GruModel(config, initial) : new SasrecModel(config, initial);
}
