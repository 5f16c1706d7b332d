/**
 * Drift between the training data (expected) and recent traffic (actual) as a population
 * stability index over buckets: PSI = sum over buckets of (actual - expected) * ln(actual / expected).
 * Shared by every kind's feedback: a kind only says what its buckets are.
 */
import type { DriftMeasure } from '../schemas/steps';

/** Shares are floored so that an empty bucket stays finite. */
export function populationStabilityIndex(expected: number[], actual: number[]): number {
  const floor = 1e-4;
  const share = (counts: number[]) => {
    const total = counts.reduce((a, b) => a + b, 0);
    return counts.map((c) => Math.max(floor, total > 0 ? c / total : 0));
  };
  const e = share(expected);
  const a = share(actual);
  return e.reduce((psi, ei, i) => psi + (a[i] - ei) * Math.log(a[i] / ei), 0);
}

/** A drift measure from bucket counts; below `minSample` observations on the traffic side the PSI is not computed. */
export function driftMeasure(label: string, bucketLabels: string[], expected: number[], actual: number[], threshold: number, minSample: number): DriftMeasure {
  const sample = actual.reduce((a, b) => a + b, 0);
  const total = (counts: number[]) => Math.max(1, counts.reduce((a, b) => a + b, 0));
  return {
    label,
    psi: sample >= minSample ? populationStabilityIndex(expected, actual) : null,
    threshold,
    sample,
    buckets: bucketLabels.map((bucket, i) => ({ label: bucket, expected: expected[i] / total(expected), actual: actual[i] / total(actual) })),
  };
}

/**
 * Buckets of (about) equal training mass for a numeric feature: the upper edges of `buckets`
 * quantiles of the training values, deduplicated (a feature with few distinct values gets fewer buckets).
 */
export function quantileEdges(values: ArrayLike<number>, buckets: number): number[] {
  const sorted = Float64Array.from(values).sort();
  const edges: number[] = [];
  for (let q = 1; q < buckets; q++) {
    const edge = sorted[Math.min(sorted.length - 1, Math.floor((q / buckets) * sorted.length))];
    if (edges.length === 0 || edge > edges[edges.length - 1]) edges.push(edge);
  }
  return edges;
}

/** The bucket of a value given upper edges: bucket i holds values <= edges[i]; the last holds the rest. */
export function bucketOf(edges: readonly number[], value: number): number {
  let low = 0;
  let high = edges.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (value <= edges[mid]) high = mid;
    else low = mid + 1;
  }
  return low;
}

export function edgeLabels(edges: readonly number[]): string[] {
  const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toPrecision(3));
  return [...edges.map((edge, i) => (i === 0 ? `<= ${fmt(edge)}` : `${fmt(edges[i - 1])} - ${fmt(edge)}`)), `> ${fmt(edges[edges.length - 1] ?? 0)}`];
}
