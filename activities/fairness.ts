/**
 * Fairness and bias: the primary metric per segment of the test split (a kind computes its
 * segments in evaluate), the disparity of each segment to the best one, and the promotion
 * rule `promotion.maxDisparity`. Pure functions: the evaluate step and the run report use them.
 */
import type { AnyModelKind, MetricSpec, SegmentAttribute, SegmentedEvaluation } from './model-kinds/contract';
import { DEFAULT_MIN_SEGMENT_CASES, InvalidWorkflowInputError } from '../schemas/lifecycle-input';
import type { Metrics } from '../schemas/steps';

export interface SegmentDisparity {
  segment: string;
  cases: number;
  value: number | undefined;
  /** value / best; null when the segment is left out or the best is 0. */
  ratio: number | null;
  /** How far the segment is behind the best, in the metric's direction (>= 0); null when left out. */
  difference: number | null;
  /** False for a segment with too few cases or without the metric. */
  included: boolean;
}

export interface AttributeDisparity {
  attribute: string;
  label: string;
  metric: string;
  best: string | null;
  segments: SegmentDisparity[];
  /** The segment furthest behind the best (largest difference), among included ones. */
  worst: { segment: string; difference: number; ratio: number | null } | null;
}

/** Disparity of each segment's `spec` metric to the best segment (best by the metric's direction). */
export function disparity(spec: MetricSpec, attribute: SegmentAttribute, minCases = DEFAULT_MIN_SEGMENT_CASES): AttributeDisparity {
  const usable = (cases: number, value: number | undefined): value is number => cases >= minCases && value !== undefined && Number.isFinite(value);
  const candidates = attribute.segments.filter((s) => usable(s.cases, s.metrics[spec.name]));
  const best = candidates.reduce<(typeof candidates)[number] | null>((top, s) => {
    if (!top) return s;
    const [a, b] = [s.metrics[spec.name], top.metrics[spec.name]];
    return (spec.direction === 'higher' ? a > b : a < b) ? s : top;
  }, null);
  const bestValue = best?.metrics[spec.name];
  const segments = attribute.segments.map((s): SegmentDisparity => {
    const value = s.metrics[spec.name];
    if (bestValue === undefined || !usable(s.cases, value)) return { segment: s.segment, cases: s.cases, value, ratio: null, difference: null, included: false };
    const difference = spec.direction === 'higher' ? bestValue - value : value - bestValue;
    return { segment: s.segment, cases: s.cases, value, ratio: bestValue === 0 ? null : value / bestValue, difference, included: true };
  });
  const worst = segments.filter((s) => s.included).reduce<SegmentDisparity | null>((w, s) => (!w || s.difference! > w.difference! ? s : w), null);
  return {
    attribute: attribute.attribute,
    label: attribute.label,
    metric: spec.name,
    best: best?.segment ?? null,
    segments,
    worst: worst ? { segment: worst.segment, difference: worst.difference!, ratio: worst.ratio } : null,
  };
}

/** The attributes to report: all the kind computes, or those the input names (each checked against the kind's: an input error). */
export function selectSegments(kind: Pick<AnyModelKind, 'name' | 'segments'>, requested: readonly string[] | undefined): string[] {
  const declared = (kind.segments ?? []).map((s) => s.name);
  if (!requested) return declared;
  const unknown = requested.filter((name) => !declared.includes(name));
  if (unknown.length > 0) {
    throw new InvalidWorkflowInputError(`evaluation.segments: ${kind.name} cannot segment by ${unknown.map((u) => `"${u}"`).join(', ')}; it segments by ${declared.length > 0 ? declared.join(', ') : 'nothing'}`);
  }
  return [...requested];
}

/** The attributes of an evaluation that `names` selects, in that order. */
export function segmentsOf(evaluation: SegmentedEvaluation, names: readonly string[]): SegmentAttribute[] {
  return names.flatMap((name) => evaluation.segments?.find((a) => a.attribute === name) ?? []);
}

export interface DisparityGateInput {
  spec: MetricSpec;
  maxDisparity: number;
  minCases: number;
  candidate: SegmentAttribute[];
  champion: { version: string; segments: SegmentAttribute[] };
}

/**
 * Blocks a candidate whose worst disparity (difference to the best segment) in an attribute
 * exceeds the champion's, on the same split and segments, by more than `maxDisparity`.
 */
export function disparityGate({ spec, maxDisparity, minCases, candidate, champion }: DisparityGateInput): { block: boolean; reasons: string[] } {
  const reasons: string[] = [];
  let block = false;
  for (const attribute of candidate) {
    const ours = disparity(spec, attribute, minCases);
    const theirsAttribute = champion.segments.find((a) => a.attribute === attribute.attribute);
    if (!ours.worst) continue;
    const theirs = theirsAttribute ? disparity(spec, theirsAttribute, minCases) : null;
    const theirDifference = theirs?.worst?.difference ?? 0;
    const growth = ours.worst.difference - theirDifference;
    if (growth > maxDisparity) {
      block = true;
      reasons.push(
        `${spec.name} disparity by ${attribute.label}: segment "${ours.worst.segment}" is ${ours.worst.difference.toFixed(4)} behind the best ("${ours.best}"), ` +
          `champion ${champion.version}'s worst is ${theirDifference.toFixed(4)}${theirs?.worst ? ` ("${theirs.worst.segment}")` : ''}; it grew by ${growth.toFixed(4)}, more than promotion.maxDisparity ${maxDisparity}`,
      );
    }
  }
  if (!block) reasons.push(`disparity within promotion.maxDisparity ${maxDisparity} of champion ${champion.version} in ${candidate.map((a) => a.label).join(', ') || 'no segment'}`);
  return { block, reasons };
}

/** One segment of the split: its key and its metrics (metricsOf over its cases). */
export function segmentBy<Case>(cases: readonly Case[], keyOf: (c: Case) => string, metricsOf: (cases: Case[]) => Metrics, order?: readonly string[]): SegmentAttribute['segments'] {
  const groups = new Map<string, Case[]>();
  for (const c of cases) {
    const key = keyOf(c);
    const group = groups.get(key) ?? [];
    group.push(c);
    groups.set(key, group);
  }
  const keys = order ? [...order.filter((k) => groups.has(k)), ...[...groups.keys()].filter((k) => !order.includes(k)).sort()] : [...groups.keys()].sort();
  return keys.map((segment) => ({ segment, cases: groups.get(segment)!.length, metrics: metricsOf(groups.get(segment)!) }));
}

/** Tier boundaries at the quantiles of training values (never the test split): `tiers` - 1 cut points. */
export function tierBoundaries(trainingValues: readonly number[], tiers: number): number[] {
  const sorted = [...trainingValues].sort((a, b) => a - b);
  if (sorted.length === 0) return [];
  return Array.from({ length: tiers - 1 }, (_, i) => sorted[Math.min(sorted.length - 1, Math.floor(((i + 1) * sorted.length) / tiers))]);
}

/** The tier of a value: the number of boundaries it reaches, named by `names` (low, mid, high). */
export function tierOf(value: number, boundaries: readonly number[], names: readonly string[]): string {
  return names[boundaries.filter((b) => value >= b).length];
}
