/**
 * deploy: publishes a better model to serving storage and swaps the champion alias. The
 * version folder holds the bundle, the kind's serving artifacts (copied, so a version never
 * depends on a run's artifacts being kept), what the kind precomputes with the model (a
 * batch forecast), and the manifest with metrics and lineage.
 * Idempotent: the version folder is named by the run, its files are the same bytes on a
 * retry, and if the alias already points at this version the swap is not repeated.
 */
import { readChampion, swapChampion, versionPrefix, type VersionManifest } from './registry/serving-registry';
import { servingModelName } from '../schemas/lifecycle-input';
import { CODE_VERSION } from '../infra/code-version';
import { artifactOf, createKindRuntime } from './kind-runtime';
import { loadModelBundle, type ModelJson } from './storage/model-bundles';
import type { AnyModelKind } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { ArtifactRef } from '../schemas/artifacts';
import type { Logger } from 'pino';
import type { CollectResult, DeployResult, EvaluateResult, PreprocessResult, StepContext, TrainResult } from '../schemas/steps';

export interface DeployInput {
  collected: CollectResult;
  prepared: PreprocessResult;
  trained: TrainResult;
  evaluation: EvaluateResult;
  /** The operator who approved the promotion, when the run asked for approval. */
  approvedBy?: string;
}

/** Version ids sort by time and say which run made them. */
export function versionId(ctx: StepContext, weightsSha256: string): string {
  return `v${ctx.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${weightsSha256.slice(0, 8)}`;
}

/** The kind's precomputed outputs for the candidate (none when the kind has no `precompute`). */
async function precomputed(store: ObjectStore, log: Logger, kind: AnyModelKind, ctx: StepContext, { prepared, trained }: DeployInput): Promise<Record<string, ArtifactRef>> {
  if (!kind.precompute) return {};
  const bundle = await loadModelBundle(store, trained.model.key, kind.name, trained.model.sha256);
  const outputs = await kind.precompute(createKindRuntime(store, log, ctx), prepared, { bundle, artifactKey: (name) => artifactOf(prepared, name) });
  const clashing = Object.keys(outputs).filter((name) => kind.servingArtifacts.includes(name));
  if (clashing.length > 0) throw new Error(`${kind.name} precomputes ${clashing.join(', ')}, which are also its serving artifacts`);
  return outputs;
}

export async function deployModel(store: ObjectStore, log: Logger, kind: AnyModelKind, ctx: StepContext, input: DeployInput): Promise<DeployResult> {
  const model = servingModelName(ctx.config);
  const { evaluation, trained, prepared, collected } = input;
  const previous = evaluation.championRef?.version ?? null;
  if (!evaluation.promote) {
    return { promoted: false, model, version: previous, servingUri: previous && store.uri(`${versionPrefix(model, previous)}/`), previousChampion: previous, reason: evaluation.reasons.join('; ') };
  }
  const modelJson = await store.getJson<ModelJson>(trained.model.key);
  const version = versionId(ctx, modelJson.weightsSha256);
  const target = versionPrefix(model, version);
  const live = await readChampion(store, model);
  if (live?.alias.version === version) {
    return { promoted: true, model, version, servingUri: store.uri(`${target}/`), previousChampion: live.alias.previous, reason: 'already promoted by this run (retry)' };
  }

  const source = trained.model.key.slice(0, trained.model.key.lastIndexOf('/'));
  // Every copy is verified on the way (getBytes), and the copies keep a name or a manifest entry
  // that their hash can be checked against when serving loads them.
  await store.put(`${target}/weights.bin`, await store.getBytes(`${source}/weights.bin`, modelJson.weightsSha256));
  await store.put(`${target}/model.json`, await store.getBytes(trained.model.key, trained.model.sha256), 'application/json');
  const servingArtifacts: Record<string, string> = {};
  const served: Record<string, ArtifactRef> = {};
  for (const name of kind.servingArtifacts) {
    const ref = prepared.artifacts[name];
    if (!ref) throw new Error(`${kind.name} declares serving artifact "${name}", which its preprocess step did not produce`);
    served[name] = ref;
  }
  const outputs = await precomputed(store, log, kind, ctx, input);
  for (const [name, ref] of Object.entries({ ...served, ...outputs })) {
    servingArtifacts[name] = `${name}/${ref.sha256}.${ref.format}`;
    await store.put(`${target}/${servingArtifacts[name]}`, await store.getBytes(ref.key));
  }
  const manifest: VersionManifest = {
    model,
    version,
    kind: kind.name,
    createdAt: ctx.startedAt,
    primaryMetric: evaluation.primaryMetric,
    metrics: evaluation.candidate,
    baseline: evaluation.baseline,
    lineage: {
      dataset: ctx.config.dataset,
      snapshot: collected.snapshot.uri,
      artifacts: Object.fromEntries(Object.entries({ ...prepared.artifacts, ...outputs }).map(([name, ref]) => [name, ref.uri])),
      servingArtifacts,
      weightsSha256: modelJson.weightsSha256,
      modelSha256: trained.model.sha256,
      workflowId: ctx.workflowId,
      runId: ctx.runId,
      codeVersion: CODE_VERSION,
      backend: trained.backend,
    },
    hyperparameters: ctx.config.hyperparameters,
  };
  await store.put(`${target}/manifest.json`, JSON.stringify(manifest, null, 1), 'application/json');
  // The precondition is the champion the evaluation compared against, not the one read
  // just now: promoting over a champion nobody compared with would be wrong.
  await swapChampion(
    store,
    { model, version, promotedAt: ctx.startedAt, promotedBy: `workflow ${ctx.workflowId}/${ctx.runId}${input.approvedBy ? `, approved by ${input.approvedBy}` : ''}`, reason: evaluation.reasons.join('; '), previous, action: 'deploy' },
    evaluation.championRef,
  );
  return { promoted: true, model, version, servingUri: store.uri(`${target}/`), previousChampion: previous, reason: evaluation.reasons.join('; ') };
}
