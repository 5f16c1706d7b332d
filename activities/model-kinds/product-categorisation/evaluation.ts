/**
 * The product-categorisation metrics on a split: category accuracy (primary) and macro-F1;
 * matching top-1 for offers of products training knew, and precision, recall and F1 of the
 * new-product flag on offers of products it never saw, and the pairwise matching F1; for
 * offers with a photo, the photo model's top-1 and top-5 category accuracy alone, and the
 * category accuracy of the title alone and of both fused. Category accuracy itself is what
 * serving answers: fused where an offer has a photo. Segments (fairness): category accuracy
 * per merchant and per merchant size tier, since a small seller's titles should be filed as
 * well as a large one's.
 */
import { accuracy, macroF1 } from '../../../ml/text/metrics';
import { matchingMetrics, type MatchResults, type MatchTruth } from '../../../ml/catalogue/matching-metrics';
import { segmentBy, tierBoundaries, tierOf } from '../../fairness';
import type { MetricSpec, SegmentAttribute } from '../contract';
import type { Metrics } from '../../../schemas/steps';

export const CATALOGUE_METRICS: MetricSpec[] = [
  { name: 'accuracy', label: 'category accuracy', direction: 'higher', format: 'percent' },
  { name: 'macroF1', label: 'category macro-F1', direction: 'higher', format: 'ratio' },
  { name: 'matchTop1', label: 'matching top-1 (known products)', direction: 'higher', format: 'percent' },
  { name: 'newProductPrecision', label: 'new-product precision', direction: 'higher', format: 'ratio' },
  { name: 'newProductRecall', label: 'new-product recall', direction: 'higher', format: 'ratio' },
  { name: 'newProductF1', label: 'new-product F1', direction: 'higher', format: 'ratio' },
  { name: 'matchPairF1', label: 'matching F1 over pairs of offers', direction: 'higher', format: 'ratio' },
  { name: 'imageTop1', label: 'photo-only category top-1 (offers with photos)', direction: 'higher', format: 'percent' },
  { name: 'imageTop5', label: 'photo-only category top-5 (offers with photos)', direction: 'higher', format: 'percent' },
  { name: 'titleAccuracyWithPhotos', label: 'title-only category accuracy (offers with photos)', direction: 'higher', format: 'percent' },
  { name: 'fusedAccuracy', label: 'title + photo category accuracy (offers with photos)', direction: 'higher', format: 'percent' },
];

export function categoryMetrics(labels: Int32Array, predicted: Int32Array, classes: number): Metrics {
  return { accuracy: accuracy(labels, predicted), macroF1: macroF1(labels, predicted, classes) };
}

/** With no matching model (data without products), only the category metrics. */
export function catalogueMetrics(category: Metrics, matching: { results: MatchResults; truth: MatchTruth; threshold: number; productIds?: readonly string[] } | null): Metrics {
  return { ...category, ...(matching ? matchingMetrics(matching.results, matching.truth, matching.threshold, matching.productIds) : {}) };
}

export const CATALOGUE_SEGMENTS = [
  { name: 'merchant', label: 'merchant (the largest by test offers, the rest pooled)' },
  { name: 'merchantSize', label: 'merchant size tier (offers listed)' },
] as const;

/** Merchants shown on their own; a store has hundreds, and a table of hundreds says nothing. */
const LARGEST_MERCHANTS = 8;
const OTHER_MERCHANTS = 'other merchants';
const SIZE_TIERS = ['small', 'mid', 'large'];

/**
 * The test offers (`testRows`, indices into `merchants`) by merchant and by merchant size:
 * the number of offers the merchant lists in the data, cut at the terciles of the training
 * offers' merchant sizes (so each tier holds about a third of training). `metricsOf` scores
 * positions in `testRows`.
 */
export function catalogueSegments(merchants: readonly string[], trainRows: readonly number[], testRows: readonly number[], metricsOf: (positions: number[]) => Metrics): SegmentAttribute[] {
  const listed = new Map<string, number>();
  for (const merchant of merchants) listed.set(merchant, (listed.get(merchant) ?? 0) + 1);
  const testOffers = new Map<string, number>();
  for (const row of testRows) testOffers.set(merchants[row], (testOffers.get(merchants[row]) ?? 0) + 1);
  const largest = [...testOffers].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, LARGEST_MERCHANTS).map(([merchant]) => merchant);
  const boundaries = tierBoundaries(trainRows.map((row) => listed.get(merchants[row])!), SIZE_TIERS.length);
  const positions = testRows.map((_, k) => k);
  const merchantOf = (k: number) => (largest.includes(merchants[testRows[k]]) ? merchants[testRows[k]] : OTHER_MERCHANTS);
  return [
    { ...CATALOGUE_SEGMENTS[0], segments: segmentBy(positions, merchantOf, metricsOf, [...largest, OTHER_MERCHANTS]) },
    { ...CATALOGUE_SEGMENTS[1], segments: segmentBy(positions, (k) => tierOf(listed.get(merchants[testRows[k]])!, boundaries, SIZE_TIERS), metricsOf, SIZE_TIERS) },
  ].map(({ name, label, segments }) => ({ attribute: name, label, segments }));
}
