/** The next-item models' hyperparameters (SASRec and GRU) and the space the search draws from by default. */
import { z } from 'zod';
import type { SearchDimension } from '../../schemas/lifecycle-input';

export const RecommenderHyperparameters = z
  .object({
    /** sasrec: causal self-attention; gru: GRU4Rec-style recurrent encoder. */
    model: z.enum(['sasrec', 'gru']).default('sasrec'),
    maxLen: z.number().int().min(2).max(200).default(50),
    hiddenDim: z.number().int().min(8).max(512).default(64),
    blocks: z.number().int().min(1).max(4).default(2),
    heads: z.number().int().min(1).max(8).default(1),
    dropout: z.number().min(0).max(0.9).default(0.2),
    learningRate: z.number().positive().max(1).default(0.001),
    batchSize: z.number().int().min(8).max(4096).default(128),
    epochs: z.number().int().min(1).max(500).default(40),
    patience: z.number().int().min(1).max(100).default(5),
    /** full: softmax over every item; sampled: over the target and `sampledNegatives`; auto: full up to `fullSoftmaxMaxItems`. */
    softmax: z.enum(['auto', 'full', 'sampled']).default('auto'),
    // The native backend's fused cross-entropy makes every item affordable up to here; the
    // logits of a full batch are then at most ~0.6 GB.
    fullSoftmaxMaxItems: z.number().int().min(1).default(25000),
    sampledNegatives: z.number().int().min(1).max(100000).default(512),
    /** Users whose validation ranking drives early stopping (0 = all). */
    validationUsers: z.number().int().min(0).default(0),
    seed: z.number().int().min(0).default(42),
  })
  .strict()
  .refine((hp) => hp.hiddenDim % hp.heads === 0, { message: 'hiddenDim must be divisible by heads', path: ['heads'] });
export type RecommenderHyperparameters = z.output<typeof RecommenderHyperparameters>;


/** What the optimize step's search varies unless the input gives its own space (epochs are the search's budget). */
export const RECOMMENDER_SEARCH_SPACE: Record<string, z.input<typeof SearchDimension>> = {
  learningRate: { min: 0.0003, max: 0.01, scale: 'log' },
  dropout: { min: 0, max: 0.5 },
  hiddenDim: { choices: [32, 64, 128] },
};
