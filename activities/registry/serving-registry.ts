/**
 * The model registry in serving storage:
 *
 *   serving/<model>/versions/<version>/model.json, weights.bin, <serving artifact>/<sha256>.<ext>, manifest.json
 *   serving/<model>/champion.json          the alias the serving side follows
 *   serving/<model>/history/<n>.json       one record per alias change, for audit and rollback
 *
 * The alias is swapped with a conditional write on the ETag read before deciding, so two
 * promotions racing for the same model cannot both win: the loser gets ChampionChangedError.
 * Lifecycle deploys, operators' promotions and rollbacks all go through swapChampion.
 */
import { PreconditionFailedError, type ObjectStore } from '../storage/object-store';
import { loadModelBundle } from '../storage/model-bundles';
import type { ModelBundle } from '../model-kinds/contract';
import type { ChampionRef, Metrics } from '../../schemas/steps';

export interface VersionManifest {
  model: string;
  version: string;
  kind: string;
  createdAt: string;
  /** Keyed by the kind's metric names; `primaryMetric` decided the promotion. */
  primaryMetric: string;
  metrics: Metrics;
  baseline: Metrics;
  lineage: {
    dataset: string;
    snapshot: string;
    /** Every preprocessing artifact of the run, by name (URIs); the serving ones are also copied beside the model. */
    artifacts: Record<string, string>;
    /** The copied and the precomputed ones: name -> file in the version folder (`<name>/<sha256>.<ext>`, verified on read). */
    servingArtifacts: Record<string, string>;
    weightsSha256: string;
    /** SHA-256 of model.json; absent in versions deployed before it was recorded. */
    modelSha256?: string;
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
  /** deploy: a lifecycle run promoted its model; promote: an operator chose a version; rollback: the one before came back. */
  action: 'deploy' | 'promote' | 'rollback';
}

/** Who asks for an alias change, and why; both end up in the history. */
export interface OperatorNote {
  by: string;
  reason: string;
}

export class ChampionChangedError extends Error {
  constructor(model: string, expected: string | null) {
    super(`the champion of ${model} changed since it was evaluated (expected ${expected ?? 'none'}); re-run to compare against the new one`);
    this.name = 'ChampionChangedError';
  }
}

export class VersionNotFoundError extends Error {
  constructor(model: string, version: string) {
    super(`model ${model} has no version ${version} (see \`storeloop models show ${model}\`)`);
    this.name = 'VersionNotFoundError';
  }
}

/** Rollback has nowhere to go: no champion yet, or the first one. */
export class NoPreviousChampionError extends Error {
  constructor(model: string, champion: string | null) {
    super(
      champion
        ? `${champion} is the first champion of ${model}; there is nothing to roll back to`
        : `model ${model} has no champion (no serving/${model}/champion.json): nothing to roll back. Promote a version with: storeloop models promote ${model} <version>`,
    );
    this.name = 'NoPreviousChampionError';
  }
}

export const servingPrefix = (model: string) => `serving/${model}`;
export const versionPrefix = (model: string, version: string) => `${servingPrefix(model)}/versions/${version}`;

/** The key of a named preprocessing artifact of a published version: its copy beside the model, else the run's original. */
export function versionArtifactKey(store: ObjectStore, manifest: VersionManifest, name: string): string {
  const copied = manifest.lineage.servingArtifacts[name];
  if (copied) return `${versionPrefix(manifest.model, manifest.version)}/${copied}`;
  const original = manifest.lineage.artifacts[name];
  if (!original) throw new Error(`${manifest.model} ${manifest.version} has no artifact "${name}"`);
  return store.keyOf(original);
}
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
  // Keyed by the time of the swap, not alias.promotedAt (a deploy's is its run's start), so
  // the history lists changes in the order they happened.
  const stamp = new Date().toISOString().replace(/[^0-9]/g, '');
  await store.put(`${servingPrefix(alias.model)}/history/${stamp}-${alias.version}.json`, JSON.stringify(alias, null, 1), 'application/json');
}

export async function readVersionManifest(store: ObjectStore, model: string, version: string): Promise<VersionManifest> {
  return store.getJson<VersionManifest>(`${versionPrefix(model, version)}/manifest.json`);
}

/** A published version's model, verified against its manifest (IntegrityError on a tampered model.json or weights.bin). */
export async function loadVersionBundle(store: ObjectStore, manifest: VersionManifest): Promise<ModelBundle> {
  return loadModelBundle(store, `${versionPrefix(manifest.model, manifest.version)}/model.json`, manifest.kind, manifest.lineage.modelSha256);
}

/** Models with a champion, by name. */
export async function listModels(store: ObjectStore): Promise<string[]> {
  const aliases = (await store.list('serving/')).filter((o) => o.key.endsWith('/champion.json'));
  return aliases.map((o) => o.key.split('/')[1]).sort();
}

/** Every published version of a model, oldest first (version ids sort by time). */
export async function listVersions(store: ObjectStore, model: string): Promise<VersionManifest[]> {
  const manifests = (await store.list(`${servingPrefix(model)}/versions/`)).filter((o) => o.key.endsWith('/manifest.json'));
  const versions = await Promise.all(manifests.map((o) => store.getJson<VersionManifest>(o.key)));
  return versions.sort((a, b) => a.version.localeCompare(b.version));
}

/** Every alias change of a model, oldest first. */
export async function readHistory(store: ObjectStore, model: string): Promise<ChampionAlias[]> {
  const records = (await store.list(`${servingPrefix(model)}/history/`)).sort((a, b) => a.key.localeCompare(b.key));
  return Promise.all(records.map((o) => store.getJson<ChampionAlias>(o.key)));
}

export interface AliasChange {
  alias: ChampionAlias;
  /** The champion this change was decided against: the conditional write's precondition. */
  expected: ChampionRef | null;
  /** The version that is champion until the change: what a rollback rolls back from. */
  replacing: string | null;
}

/** One line per served model: its champion and how good it is, for the CLI's list and the console. */
export interface ModelOverview {
  model: string;
  kind: string | null;
  champion: string | null;
  metric: string | null;
  value: number | null;
  since: string | null;
  by: string | null;
  versions: number;
}

export async function modelOverviews(store: ObjectStore): Promise<ModelOverview[]> {
  return Promise.all(
    (await listModels(store)).map(async (model) => {
      const [champion, versions] = await Promise.all([readChampion(store, model), listVersions(store, model)]);
      const live = versions.find((v) => v.version === champion?.alias.version);
      const metric = live?.primaryMetric ?? null;
      return { model, kind: live?.kind ?? null, champion: champion?.alias.version ?? null, metric, value: metric && live ? (live.metrics[metric] ?? null) : null, since: champion?.alias.promotedAt ?? null, by: champion?.alias.promotedBy ?? null, versions: versions.length };
    }),
  );
}

/** Decides an operator's promotion of an existing version; apply it with swapChampion. */
export async function planPromotion(store: ObjectStore, model: string, version: string, note: OperatorNote): Promise<AliasChange> {
  if (!(await store.head(`${versionPrefix(model, version)}/manifest.json`))) throw new VersionNotFoundError(model, version);
  const live = await readChampion(store, model);
  if (live?.alias.version === version) throw new Error(`${version} is already the champion of ${model}; nothing changed`);
  const alias: ChampionAlias = { model, version, promotedAt: new Date().toISOString(), promotedBy: note.by, reason: note.reason, previous: live?.alias.version ?? null, action: 'promote' };
  return { alias, expected: live?.ref ?? null, replacing: live?.alias.version ?? null };
}

/**
 * Decides a rollback to the champion before the current one. The champions form a stack
 * replayed from the history (a promotion pushes, a rollback pops), so repeated rollbacks
 * walk back through earlier champions instead of toggling between the last two.
 */
export async function planRollback(store: ObjectStore, model: string, note: OperatorNote): Promise<AliasChange> {
  const live = await readChampion(store, model);
  if (!live) throw new NoPreviousChampionError(model, null);
  const stack: string[] = [];
  for (const record of await readHistory(store, model)) {
    if (record.action === 'rollback') stack.pop();
    else stack.push(record.version);
  }
  if (stack.at(-1) !== live.alias.version) stack.push(live.alias.version); // the last history write was lost
  const target = stack.at(-2);
  if (!target) throw new NoPreviousChampionError(model, live.alias.version);
  const alias: ChampionAlias = { model, version: target, promotedAt: new Date().toISOString(), promotedBy: note.by, reason: note.reason, previous: stack.at(-3) ?? null, action: 'rollback' };
  return { alias, expected: live.ref, replacing: live.alias.version };
}

export async function applyAliasChange(store: ObjectStore, change: AliasChange): Promise<ChampionAlias> {
  await swapChampion(store, change.alias, change.expected);
  return change.alias;
}
