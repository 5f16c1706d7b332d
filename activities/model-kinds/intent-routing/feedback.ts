/**
 * The intent-routing kind's feedback: served predictions joined (by request id and item)
 * with the outcomes agents posted, per model version: online accuracy, the share answered
 * automatically, and the intent pairs agents corrected most (logged). Drift against the
 * training data: the share of words outside the training vocabulary (expected: the
 * held-out splits'), and the predicted-intent distribution against the training labels (PSI).
 */
import { Field, Float64, Int32, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { artifactOf } from '../../kind-runtime';
import { driftMeasure } from '../../drift';
import { timestampMs } from '../../feedback';
import { Tokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { intentsOf, splitTexts } from './prepare';
import { SPLIT } from './protocol';
import type { FeedbackHandler, KindRuntime, MetricSpec } from '../contract';
import type { DriftMeasure, OnlineMetrics, PreprocessResult } from '../../../schemas/steps';

/** Corrected pairs named in the log. */
const TOP_CONFUSIONS = 10;

export const INTENT_FEEDBACK_SCHEMA = new Schema([
  new Field('type', new Utf8(), false),
  new Field('model_version', new Utf8(), false),
  new Field('request_id', new Utf8(), false),
  new Field('item', new Int32(), false),
  new Field('conversation_id', new Utf8(), true),
  new Field('text', new Utf8(), true),
  new Field('predicted_intent', new Utf8(), true),
  new Field('confidence', new Float64(), true),
  new Field('route', new Utf8(), true),
  new Field('words', new Int32(), true),
  new Field('unknown_words', new Int32(), true),
  /** The intent an agent handled (outcomes only). */
  new Field('intent', new Utf8(), true),
  new Field('timestamp', new TimestampMillisecond(), false),
]);

const IntentFeedbackRow = z
  .object({
    type: z.enum(['prediction', 'intent_confirmed', 'intent_corrected']),
    model_version: z.string().min(1).max(128),
    request_id: z.string().min(1).max(256),
    item: z.number().int().min(0),
    conversation_id: z.string().max(256).nullish(),
    text: z.string().nullish(),
    predicted_intent: z.string().max(256).nullish(),
    confidence: z.number().min(0).max(1).nullish(),
    route: z.enum(['auto', 'human']).nullish(),
    words: z.number().int().min(0).nullish(),
    unknown_words: z.number().int().min(0).nullish(),
    intent: z.string().max(256).nullish(),
    timestamp: z.union([z.number(), z.string()]),
  })
  .strict();

export const INTENT_ONLINE_METRICS: MetricSpec[] = [
  { name: 'onlineAccuracy', label: 'online accuracy (agent outcomes)', direction: 'higher', format: 'percent' },
  { name: 'autoShare', label: 'answered automatically', direction: 'higher', format: 'percent' },
  { name: 'outcomes', label: 'agent outcomes', direction: 'higher', format: 'number' },
  { name: 'corrections', label: 'corrected by agents', direction: 'lower', format: 'number' },
];

interface Prediction {
  version: string;
  predicted: string;
  auto: boolean;
}

async function readTokenizer(rt: KindRuntime, prepared: PreprocessResult): Promise<Tokenizer> {
  const bytes = await rt.store.getBytes(artifactOf(prepared, 'tokenizer'));
  return new Tokenizer(JSON.parse(new TextDecoder().decode(bytes)) as TokenizerSpec);
}

export const intentFeedback: FeedbackHandler = {
  arrow: INTENT_FEEDBACK_SCHEMA,
  row: IntentFeedbackRow,
  online: INTENT_ONLINE_METRICS,
  personal: { text: 'free-text', conversation_id: 'identifier' },
  guarded: 'onlineAccuracy',
  start(rt, prepared) {
    // Outcomes come minutes to days after the answer: the join spans the whole window.
    const predictions = new Map<string, Prediction>();
    const outcomes = new Map<string, string>();
    const firstSeen = new Map<string, number>();
    const predictedCounts = new Map<string, number>();
    let words = 0;
    let unknownWords = 0;
    return {
      add(row) {
        const key = `${row.request_id as string}#${row.item as number}`;
        if (row.type !== 'prediction') {
          // The latest outcome of an answer wins; a confirmation without an intent confirms the prediction.
          if (typeof row.intent === 'string') outcomes.set(key, row.intent);
          else outcomes.set(key, '');
          return;
        }
        const version = row.model_version as string;
        const predicted = row.predicted_intent as string;
        predictions.set(key, { version, predicted, auto: row.route === 'auto' });
        firstSeen.set(version, Math.min(firstSeen.get(version) ?? Infinity, timestampMs(row.timestamp)));
        predictedCounts.set(predicted, (predictedCounts.get(predicted) ?? 0) + 1);
        words += (row.words as number | null) ?? 0;
        unknownWords += (row.unknown_words as number | null) ?? 0;
      },
      endDay: () => undefined,
      perVersion() {
        const out: Record<string, OnlineMetrics> = {};
        const confusions = new Map<string, number>();
        const byVersion = new Map<string, { requests: number; auto: number; outcomes: number; right: number; corrections: number }>();
        for (const [key, p] of predictions) {
          const counts = byVersion.get(p.version) ?? { requests: 0, auto: 0, outcomes: 0, right: 0, corrections: 0 };
          byVersion.set(p.version, counts);
          counts.requests++;
          if (p.auto) counts.auto++;
          const handled = outcomes.get(key);
          if (handled === undefined) continue;
          counts.outcomes++;
          if (handled === '' || handled === p.predicted) counts.right++;
          else {
            counts.corrections++;
            const pair = `${p.predicted} -> ${handled}`;
            confusions.set(pair, (confusions.get(pair) ?? 0) + 1);
          }
        }
        for (const [version, c] of byVersion) {
          out[version] = {
            requests: c.requests,
            firstSeen: new Date(firstSeen.get(version) ?? 0).toISOString(),
            metrics: { autoShare: c.auto / c.requests, outcomes: c.outcomes, corrections: c.corrections, ...(c.outcomes > 0 ? { onlineAccuracy: c.right / c.outcomes } : {}) },
          };
        }
        const top = [...confusions].sort((a, b) => b[1] - a[1]).slice(0, TOP_CONFUSIONS);
        if (top.length > 0) rt.log.info({ corrected: Object.fromEntries(top) }, 'intent pairs agents corrected most (predicted -> handled)');
        return out;
      },
      async drift(thresholdOf, minSample) {
        const table = await rt.readTable(artifactOf(prepared, 'utterances'));
        const tokenizer = await readTokenizer(rt, prepared);
        const heldOut = splitTexts(table, [SPLIT.validation, SPLIT.test]);
        let expectedWords = 0;
        let expectedUnknown = 0;
        for (const text of heldOut.texts) {
          const encoded = tokenizer.encode(text);
          expectedWords += encoded.words;
          expectedUnknown += encoded.unknownWords;
        }
        const intents = intentsOf(table);
        const train = splitTexts(table, [SPLIT.train]);
        const expectedIntents = new Array<number>(intents.length + 1).fill(0);
        for (const label of train.labels) expectedIntents[label]++;
        const actualIntents = new Array<number>(intents.length + 1).fill(0);
        const indexOf = new Map(intents.map((intent, i) => [intent, i]));
        // The last bucket: intents this training data does not have (a model trained on other data answered).
        for (const [intent, n] of predictedCounts) actualIntents[indexOf.get(intent) ?? intents.length] += n;
        const measures: Record<string, DriftMeasure> = {
          'unknown-words': driftMeasure('words outside the training vocabulary', ['known', 'unknown'], [expectedWords - expectedUnknown, expectedUnknown], [words - unknownWords, unknownWords], thresholdOf('unknown-words'), minSample),
          'predicted-intent': driftMeasure('predicted intent', [...intents, '(other)'], expectedIntents, actualIntents, thresholdOf('predicted-intent'), minSample),
        };
        return measures;
      },
    };
  },
};
