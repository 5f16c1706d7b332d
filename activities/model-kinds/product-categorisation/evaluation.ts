/**
 * The product-categorisation metrics on a split: category accuracy (primary) and macro-F1;
 * matching top-1 for offers of products training knew, and precision, recall and F1 of the
 * new-product flag on offers of products it never saw, and the pairwise matching F1; for
 * offers with a photo, the photo model's top-1 and top-5 category accuracy alone, and the
 * category accuracy of the title alone and of both fused. Category accuracy itself is what
 * serving answers: fused where an offer has a photo.
 */
import { accuracy, macroF1 } from '../../../ml/text/metrics';
import { matchingMetrics, type MatchResults, type MatchTruth } from '../../../ml/catalogue/matching-metrics';
import type { MetricSpec } from '../contract';
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
