/**
 * The model registry in serving storage:
 *
 *   serving/<model>/versions/<version>/model.json, weights.bin, vocabulary.arrow, manifest.json
 *   serving/<model>/champion.json          the alias the serving side follows
 *   serving/<model>/history/<n>.json       one record per alias change, for audit and rollback
 *
 * The alias is swapped with a conditional write on the ETag read before deciding, so two
 * promotions racing for the same model cannot both win: the loser gets ChampionChangedError.
 */
import { PreconditionFailedError, type ObjectStore } from '../storage/object-store';
import type { RankingMetrics } from '../../ml/ranking';
import type { ChampionRef } from '../../schemas/steps';

export interface VersionManifest {
  model: string;
  version: string;
  kind: string;
  createdAt: string;
  metrics: RankingMetrics;
  baseline: RankingMetrics;
  lineage: {
    dataset: string;
    snapshot: string;
    sequences: string;
    vocabulary: string;
    weightsSha256: string;
    workflowId: string;
    runId: string;
    codeVersion: string;
    backend: string;
  };
  hyperparameters: Record<string, unknown>;
}

export interface ChampionAlias {
  model: string;
  version: string;
  promotedAt: string;
  promotedBy: string;
  reason: string;
  previous: string | null;
}

export class ChampionChangedError extends Error {
  constructor(model: string, expected: string | null) {
    super(`the champion of ${model} changed since it was evaluated (expected ${expected ?? 'none'}); re-run to compare against the new one`);
    this.name = 'ChampionChangedError';
  }
}

export const servingPrefix = (model: string) => `serving/${model}`;
export const versionPrefix = (model: string, version: string) => `${servingPrefix(model)}/versions/${version}`;
const aliasKey = (model: string) => `${servingPrefix(model)}/champion.json`;

export async function readChampion(store: ObjectStore, model: string): Promise<{ alias: ChampionAlias; ref: ChampionRef } | null> {
  const found = await store.getJsonIfExists<ChampionAlias>(aliasKey(model));
  if (!found) return null;
  return { alias: found.value, ref: { model, version: found.value.version, aliasEtag: found.etag } };
}

/**
 * Points the alias at `alias.version` if it is still where the caller saw it
 * (`expected` null = no champion yet). Records the change in the history.
 */
export async function swapChampion(store: ObjectStore, alias: ChampionAlias, expected: ChampionRef | null): Promise<void> {
  try {
    await store.putIfMatch(aliasKey(alias.model), JSON.stringify(alias, null, 1), expected?.aliasEtag ?? null);
  } catch (error) {
    if (error instanceof PreconditionFailedError) throw new ChampionChangedError(alias.model, expected?.version ?? null);
    throw error;
  }
  const stamp = alias.promotedAt.replace(/[^0-9]/g, '');
  await store.put(`${servingPrefix(alias.model)}/history/${stamp}-${alias.version}.json`, JSON.stringify(alias, null, 1), 'application/json');
}

export async function readVersionManifest(store: ObjectStore, model: string, version: string): Promise<VersionManifest> {
  return store.getJson<VersionManifest>(`${versionPrefix(model, version)}/manifest.json`);
}
