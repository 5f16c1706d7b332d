/**
 * evaluate: the kind scores the candidate, the live champion and its baseline on the same
 * test split, and the host's promotion gate decides in the primary metric's direction.
 * The champion is scored with the artifacts published beside it (its vocabulary, its
 * feature definitions), so a changed vocabulary or feature set is compared fairly.
 */
import { readChampion, readVersionManifest, loadVersionBundle, versionArtifactKey } from './registry/serving-registry';
import { loadModelBundle } from './storage/model-bundles';
import { artifactOf, createKindRuntime } from './kind-runtime';
import { metricSpec } from './model-kinds/registry';
import { servingModelName } from '../schemas/lifecycle-input';
import { selectBackend } from '../ml/backend';
import { disparityGate, segmentsOf, selectSegments } from './fairness';
import type { AnyModelKind, MetricSpec, ModelUnderTest } from './model-kinds/contract';
import type { ObjectStore } from './storage/object-store';
import type { EvaluateResult, GlobalExplanation, Metrics, PreprocessResult, SegmentAttribute, StepContext, TrainResult } from '../schemas/steps';
import type { Logger } from 'pino';

/** True when `a` is better than `b` by more than `margin`, in the metric's direction. */
export function isBetter(spec: MetricSpec, a: number, b: number, margin = 0): boolean {
  return spec.direction === 'higher' ? a > b + margin : a < b - margin;
}

export interface PromotionInput {
  spec: MetricSpec;
  minImprovement: number;
  candidate: Metrics;
  baseline: Metrics;
  baselineLabel: string;
  champion: { version: string; metrics: Metrics; sameWeights: boolean; segments?: SegmentAttribute[] } | null;
  /** `promotion.maxDisparity` with the candidate's segments; without a champion there is nothing to compare with. */
  disparity?: { maxDisparity: number; minCases: number; candidate: SegmentAttribute[] };
}

/** The champion-vs-challenger gate: beat the champion (or, without one, the baseline), and never fall to the baseline. */
export function decidePromotion({ spec, minImprovement, candidate, baseline, baselineLabel, champion, disparity }: PromotionInput): { promote: boolean; reasons: string[] } {
  const name = spec.name;
  const fmt = (m: Metrics) => m[name].toFixed(4);
  const reasons: string[] = [];
  let promote: boolean;
  if (champion?.sameWeights) {
    promote = false;
    reasons.push(`the candidate has the same weights as the live champion ${champion.version}`);
  } else if (champion) {
    promote = isBetter(spec, candidate[name], champion.metrics[name], minImprovement);
    reasons.push(`${name} ${fmt(candidate)} vs champion ${champion.version} ${fmt(champion.metrics)}: ` + (promote ? 'better' : `not better by more than ${minImprovement}`));
  } else {
    promote = isBetter(spec, candidate[name], baseline[name], minImprovement);
    reasons.push(`no champion yet; ${name} ${fmt(candidate)} vs ${baselineLabel} ${fmt(baseline)}: ${promote ? 'better' : 'not better'}`);
  }
  if (!isBetter(spec, candidate[name], baseline[name])) {
    promote = false;
    reasons.push(`the candidate does not beat the ${baselineLabel} (${fmt(candidate)} vs ${fmt(baseline)}, ${spec.direction} is better)`);
  }
  if (disparity && champion && !champion.sameWeights) {
    const gate = disparityGate({ spec, maxDisparity: disparity.maxDisparity, minCases: disparity.minCases, candidate: disparity.candidate, champion: { version: champion.version, segments: champion.segments ?? [] } });
    if (gate.block) promote = false;
    reasons.push(...gate.reasons);
  }
  return { promote, reasons };
}

export async function evaluateCandidate(store: ObjectStore, log: Logger, kind: AnyModelKind, ctx: StepContext, prepared: PreprocessResult, trained: TrainResult): Promise<EvaluateResult> {
  await selectBackend(log);
  const rt = createKindRuntime(store, log, ctx);
  const modelName = servingModelName(ctx.config);
  const spec = metricSpec(kind, ctx.config.promotion.metric ?? kind.metrics.primary);
  const attributes = selectSegments(kind, ctx.config.evaluation.segments);

  const candidateModel: ModelUnderTest = { bundle: await loadModelBundle(store, trained.model.key, kind.name, trained.model.sha256), artifactKey: (name) => artifactOf(prepared, name) };
  const candidate = await kind.evaluate(rt, prepared, candidateModel);
  const baseline = await kind.baseline.evaluate(rt, prepared);

  const live = await readChampion(store, modelName);
  let champion: PromotionInput['champion'] = null;
  let championExplanation: GlobalExplanation | null = null;
  if (live) {
    const manifest = await readVersionManifest(store, modelName, live.alias.version);
    if (manifest.kind !== kind.name) throw new Error(`${modelName} ${live.alias.version} is a ${manifest.kind} model, not ${kind.name}`);
    const bundle = await loadVersionBundle(store, manifest);
    const scored = await kind.evaluate(rt, prepared, { bundle, artifactKey: (name) => versionArtifactKey(store, manifest, name) });
    champion = { version: live.alias.version, metrics: scored.metrics, sameWeights: manifest.lineage.weightsSha256 === candidateModel.bundle.weightsSha256, segments: segmentsOf(scored, attributes) };
    championExplanation = scored.explanations ?? null;
  }
  const { maxDisparity } = ctx.config.promotion;
  const { minSegmentCases: minCases } = ctx.config.evaluation;
  const segments = { candidate: segmentsOf(candidate, attributes), champion: champion?.segments ?? null, minCases };
  const { promote, reasons } = decidePromotion({
    spec,
    minImprovement: ctx.config.promotion.minImprovement,
    candidate: candidate.metrics,
    baseline: baseline.metrics,
    baselineLabel: kind.baseline.label,
    champion,
    disparity: maxDisparity === undefined ? undefined : { maxDisparity, minCases, candidate: segments.candidate },
  });

  const explanations = { candidate: candidate.explanations ?? null, champion: championExplanation };
  const report = await store.putJsonArtifact(`reports/${modelName}`, {
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    kind: kind.name,
    primaryMetric: spec.name,
    candidate: candidate.metrics,
    baseline: baseline.metrics,
    champion: champion?.metrics ?? null,
    championVersion: live?.alias.version ?? null,
    promote,
    reasons,
    training: trained,
    evaluated: candidate.evaluated,
    explanations,
    segments,
    data: prepared.stats,
  });
  return { primaryMetric: spec.name, candidate: candidate.metrics, baseline: baseline.metrics, baselineLabel: kind.baseline.label, champion: champion?.metrics ?? null, championRef: live?.ref ?? null, promote, reasons, report, evaluated: candidate.evaluated, explanations, segments };
}
