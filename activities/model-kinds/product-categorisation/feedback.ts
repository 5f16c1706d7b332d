/**
 * The product-categorisation kind's feedback: served answers joined (by request id and item)
 * with the corrections merchants and category managers posted, per model version: online
 * category accuracy (guarded), matching accuracy, the share of offers flagged as new products
 * and how many of those flags were confirmed. Drift against the training data: the share of
 * title words outside the training vocabulary (expected: the held-out splits'), and the
 * predicted-category mix against the training labels (PSI).
 */
import { Bool, Field, Float64, Int32, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { artifactOf } from '../../kind-runtime';
import { driftMeasure } from '../../drift';
import { timestampMs } from '../../feedback';
import { Tokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { preparedOffers } from './prepare';
import { SPLIT } from './protocol';
import { OUTCOME_TYPES } from './serving';
import type { FeedbackHandler, MetricSpec } from '../contract';
import type { DriftMeasure, OnlineMetrics } from '../../../schemas/steps';

export const CATALOGUE_FEEDBACK_SCHEMA = new Schema([
  new Field('type', new Utf8(), false),
  new Field('model_version', new Utf8(), false),
  new Field('request_id', new Utf8(), false),
  new Field('item', new Int32(), false),
  new Field('merchant_id', new Utf8(), true),
  new Field('title', new Utf8(), true),
  new Field('predicted_category', new Utf8(), true),
  new Field('confidence', new Float64(), true),
  new Field('matched_product', new Utf8(), true),
  new Field('similarity', new Float64(), true),
  new Field('new_product', new Bool(), true),
  new Field('words', new Int32(), true),
  new Field('unknown_words', new Int32(), true),
  /** Outcomes: the right category, the right product. */
  new Field('category', new Utf8(), true),
  new Field('product_id', new Utf8(), true),
  new Field('timestamp', new TimestampMillisecond(), false),
]);

const CatalogueFeedbackRow = z
  .object({
    type: z.enum(['prediction', ...OUTCOME_TYPES]),
    model_version: z.string().min(1).max(128),
    request_id: z.string().min(1).max(256),
    item: z.number().int().min(0),
    merchant_id: z.string().max(256).nullish(),
    title: z.string().nullish(),
    predicted_category: z.string().max(256).nullish(),
    confidence: z.number().min(0).max(1).nullish(),
    matched_product: z.string().max(256).nullish(),
    similarity: z.number().min(-1.0001).max(1.0001).nullish(),
    new_product: z.boolean().nullish(),
    words: z.number().int().min(0).nullish(),
    unknown_words: z.number().int().min(0).nullish(),
    category: z.string().max(256).nullish(),
    product_id: z.string().max(256).nullish(),
    timestamp: z.union([z.number(), z.string()]),
  })
  .strict();

export const CATALOGUE_ONLINE_METRICS: MetricSpec[] = [
  { name: 'onlineAccuracy', label: 'online category accuracy (corrections)', direction: 'higher', format: 'percent' },
  { name: 'matchAccuracy', label: 'online matching accuracy', direction: 'higher', format: 'percent' },
  { name: 'newProductShare', label: 'flagged as new products', direction: 'lower', format: 'percent' },
  { name: 'newProductConfirmed', label: 'new-product flags confirmed', direction: 'higher', format: 'percent' },
  { name: 'outcomes', label: 'outcomes posted', direction: 'higher', format: 'number' },
  { name: 'corrections', label: 'corrections', direction: 'lower', format: 'number' },
];

interface Answer {
  version: string;
  category: string;
  product: string | null;
  newProduct: boolean;
}

/** A match outcome: the product it is, or null for a new product; undefined fields of a confirmation mean "as answered". */
type MatchOutcome = { confirmed: true } | { confirmed: false; product: string | null };

export const catalogueFeedback: FeedbackHandler = {
  arrow: CATALOGUE_FEEDBACK_SCHEMA,
  row: CatalogueFeedbackRow,
  online: CATALOGUE_ONLINE_METRICS,
  guarded: 'onlineAccuracy',
  start(rt, prepared) {
    // Corrections come minutes to days after the answer: the join spans the whole window.
    const answers = new Map<string, Answer>();
    const categoryOutcomes = new Map<string, string | null>();
    const matchOutcomes = new Map<string, MatchOutcome>();
    const firstSeen = new Map<string, number>();
    const predictedCounts = new Map<string, number>();
    let words = 0;
    let unknownWords = 0;
    return {
      add(row) {
        const key = `${row.request_id as string}#${row.item as number}`;
        // The latest outcome of an answer wins.
        if (row.type === 'category_confirmed') categoryOutcomes.set(key, null);
        else if (row.type === 'category_corrected') categoryOutcomes.set(key, row.category as string);
        else if (row.type === 'match_confirmed') matchOutcomes.set(key, { confirmed: true });
        else if (row.type === 'match_corrected') matchOutcomes.set(key, { confirmed: false, product: row.new_product === true ? null : ((row.product_id as string | null) ?? null) });
        else {
          const version = row.model_version as string;
          const category = row.predicted_category as string;
          answers.set(key, { version, category, product: (row.matched_product as string | null) ?? null, newProduct: row.new_product === true });
          firstSeen.set(version, Math.min(firstSeen.get(version) ?? Infinity, timestampMs(row.timestamp)));
          predictedCounts.set(category, (predictedCounts.get(category) ?? 0) + 1);
          words += (row.words as number | null) ?? 0;
          unknownWords += (row.unknown_words as number | null) ?? 0;
        }
      },
      endDay: () => undefined,
      perVersion() {
        const out: Record<string, OnlineMetrics> = {};
        const zero = () => ({ requests: 0, flagged: 0, categoryOutcomes: 0, categoryRight: 0, matchOutcomes: 0, matchRight: 0, flaggedJudged: 0, flaggedConfirmed: 0, corrections: 0 });
        const byVersion = new Map<string, ReturnType<typeof zero>>();
        for (const [key, a] of answers) {
          const c = byVersion.get(a.version) ?? zero();
          byVersion.set(a.version, c);
          c.requests++;
          if (a.newProduct) c.flagged++;
          const category = categoryOutcomes.get(key);
          if (category !== undefined) {
            c.categoryOutcomes++;
            if (category === null || category === a.category) c.categoryRight++;
            else c.corrections++;
          }
          const match = matchOutcomes.get(key);
          if (match !== undefined) {
            c.matchOutcomes++;
            const right = match.confirmed || (a.newProduct ? match.product === null : match.product === a.product);
            if (right) c.matchRight++;
            else c.corrections++;
            if (a.newProduct) {
              c.flaggedJudged++;
              if (right) c.flaggedConfirmed++;
            }
          }
        }
        for (const [version, c] of byVersion) {
          out[version] = {
            requests: c.requests,
            firstSeen: new Date(firstSeen.get(version) ?? 0).toISOString(),
            metrics: {
              newProductShare: c.flagged / c.requests,
              outcomes: c.categoryOutcomes + c.matchOutcomes,
              corrections: c.corrections,
              ...(c.categoryOutcomes > 0 ? { onlineAccuracy: c.categoryRight / c.categoryOutcomes } : {}),
              ...(c.matchOutcomes > 0 ? { matchAccuracy: c.matchRight / c.matchOutcomes } : {}),
              ...(c.flaggedJudged > 0 ? { newProductConfirmed: c.flaggedConfirmed / c.flaggedJudged } : {}),
            },
          };
        }
        return out;
      },
      async drift(thresholdOf, minSample) {
        const data = preparedOffers(await rt.readTable(artifactOf(prepared, 'offers')));
        const tokenizer = new Tokenizer(JSON.parse(new TextDecoder().decode(await rt.store.getBytes(artifactOf(prepared, 'tokenizer')))) as TokenizerSpec);
        let expectedWords = 0;
        let expectedUnknown = 0;
        const expectedCategories = new Array<number>(data.categories.length + 1).fill(0);
        data.titles.forEach((title, i) => {
          if (data.splits[i] === SPLIT.train) {
            if (data.categoryLabels[i] >= 0) expectedCategories[data.categoryLabels[i]]++;
            return;
          }
          const encoded = tokenizer.encode(title);
          expectedWords += encoded.words;
          expectedUnknown += encoded.unknownWords;
        });
        const actualCategories = new Array<number>(data.categories.length + 1).fill(0);
        const indexOf = new Map(data.categories.map((c, i) => [c, i]));
        // The last bucket: categories this training data does not have (a model trained on other data answered).
        for (const [category, n] of predictedCounts) actualCategories[indexOf.get(category) ?? data.categories.length] += n;
        const measures: Record<string, DriftMeasure> = {
          'unknown-words': driftMeasure('title words outside the training vocabulary', ['known', 'unknown'], [expectedWords - expectedUnknown, expectedUnknown], [words - unknownWords, unknownWords], thresholdOf('unknown-words'), minSample),
          'predicted-category': driftMeasure('predicted category mix', [...data.categories, '(other)'], expectedCategories, actualCategories, thresholdOf('predicted-category'), minSample),
        };
        return measures;
      },
    };
  },
};
