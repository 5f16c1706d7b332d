/**
 * The intent-routing metrics on a split: accuracy (primary), macro-F1, expected calibration
 * error, and routing quality at the model's threshold (chosen on validation at training
 * time for the target automatic accuracy): the share answered automatically and their accuracy.
 */
import { accuracy, expectedCalibrationError, macroF1, predictionsOf, routingAt, routingThreshold } from '../../../ml/text/metrics';
import { segmentBy, tierBoundaries, tierOf } from '../../fairness';
import type { MetricSpec, SegmentAttribute } from '../contract';
import type { Metrics } from '../../../schemas/steps';

export const INTENT_METRICS: MetricSpec[] = [
  { name: 'accuracy', label: 'accuracy', direction: 'higher', format: 'percent' },
  { name: 'macroF1', label: 'macro-F1', direction: 'higher', format: 'ratio' },
  { name: 'ece', label: 'expected calibration error', direction: 'lower', format: 'ratio' },
  { name: 'coverage', label: 'answered automatically (coverage)', direction: 'higher', format: 'percent' },
  { name: 'autoAccuracy', label: 'accuracy of automatic answers', direction: 'higher', format: 'percent' },
];

/**
 * `threshold` null: no confidence was good enough on validation, everything goes to a person.
 * With an out-of-scope class (`oosClass`), `oosRecall` is the share of its rows that reach a
 * person: routed to one, or recognised as out of scope (not in the specs: only such data has it).
 */
export function intentMetrics(labels: Int32Array, probabilities: Float32Array, classes: number, threshold: number | null, oosClass = -1): Metrics {
  const predictions = predictionsOf(probabilities, classes);
  const correct = (row: number) => predictions.predicted[row] === labels[row];
  const routing = routingAt(threshold ?? Number.POSITIVE_INFINITY, predictions.confidence, correct);
  let oos = 0;
  let oosToPerson = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== oosClass) continue;
    oos++;
    if (predictions.predicted[i] === oosClass || threshold === null || predictions.confidence[i] < threshold) oosToPerson++;
  }
  return {
    ...(oos > 0 ? { oosRecall: oosToPerson / oos } : {}),
    accuracy: accuracy(labels, predictions.predicted),
    macroF1: macroF1(labels, predictions.predicted, classes),
    ece: expectedCalibrationError(labels, predictions),
    coverage: routing.coverage,
    autoAccuracy: routing.autoAccuracy,
  };
}

/** The threshold for the target accuracy of automatic answers, on a validation split's probabilities. */
export function chooseThreshold(labels: Int32Array, probabilities: Float32Array, classes: number, target: number): number | null {
  const predictions = predictionsOf(probabilities, classes);
  // Infinity does not survive JSON (the model config): null stands for "never automatic".
  const threshold = routingThreshold(predictions.confidence, (row) => predictions.predicted[row] === labels[row], target);
  return Number.isFinite(threshold) ? threshold : null;
}

export const INTENT_SEGMENTS = [
  { name: 'language', label: 'language (by script)' },
  { name: 'length', label: 'message length tier' },
] as const;

const LENGTH_TIERS = ['short', 'medium', 'long'];

/** Chinese when the message has Han characters, else Latin-script (the synthetic and public data's two languages). */
export const languageOf = (text: string) => (/\p{Script=Han}/u.test(text) ? 'zh' : 'latin');

/**
 * The test rows by language and by length tier (terciles of the training split's message
 * lengths, in characters); `metricsOf` scores a set of test rows.
 */
export function intentSegments(trainTexts: readonly string[], testTexts: readonly string[], metricsOf: (rows: number[]) => Metrics): SegmentAttribute[] {
  const rows = testTexts.map((_, i) => i);
  const boundaries = tierBoundaries(trainTexts.map((t) => [...t].length), LENGTH_TIERS.length);
  return [
    { ...INTENT_SEGMENTS[0], attribute: 'language', segments: segmentBy(rows, (row) => languageOf(testTexts[row]), metricsOf) },
    { ...INTENT_SEGMENTS[1], attribute: 'length', segments: segmentBy(rows, (row) => tierOf([...testTexts[row]].length, boundaries, LENGTH_TIERS), metricsOf, LENGTH_TIERS) },
  ].map(({ attribute, label, segments }) => ({ attribute, label, segments }));
}
