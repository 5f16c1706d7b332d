/**
 * The transaction-risk kind's feedback: scored transactions joined with the labels that
 * came later (posted to /feedback), per model version: average precision and precision at
 * the review budget over the labelled traffic; and PSI drift of every feature between the
 * training split and the served transactions.
 */
import { Field, Float32, Float64, Int8, Schema, TimestampMillisecond, Utf8 } from 'apache-arrow';
import { z } from 'zod';
import { artifactOf } from '../../kind-runtime';
import { bucketOf, driftMeasure, edgeLabels, quantileEdges } from '../../drift';
import { timestampMs } from '../../feedback';
import { averagePrecision, precisionRecallAtBudget } from '../../../ml/tabular/metrics';
import { FEATURE_NAMES } from './features';
import { featureColumn } from './serving';
import { splitRows } from './prepare';
import { RiskOptions, SPLIT } from './protocol';
import type { FeedbackHandler, MetricSpec } from '../contract';
import type { DriftMeasure, OnlineMetrics } from '../../../schemas/steps';

const DRIFT_BUCKETS = 10;

export const RISK_FEEDBACK_SCHEMA = new Schema([
  new Field('type', new Utf8(), false),
  new Field('model_version', new Utf8(), false),
  new Field('transaction_id', new Utf8(), false),
  new Field('customer_id', new Utf8(), true),
  new Field('probability', new Float64(), true),
  new Field('decision', new Utf8(), true),
  new Field('label', new Int8(), true),
  ...FEATURE_NAMES.map((name) => new Field(featureColumn(name), new Float32(), true)),
  new Field('timestamp', new TimestampMillisecond(), false),
]);

const RiskFeedbackRow = z
  .object({
    type: z.enum(['score', 'label']),
    model_version: z.string().min(1).max(128),
    transaction_id: z.string().min(1).max(256),
    customer_id: z.string().max(256).nullish(),
    probability: z.number().min(0).max(1).nullish(),
    decision: z.string().max(16).nullish(),
    label: z.number().int().min(0).max(1).nullish(),
    timestamp: z.union([z.number(), z.string()]),
    ...Object.fromEntries(FEATURE_NAMES.map((name) => [featureColumn(name), z.number().nullish()])),
  })
  .strict();

export const RISK_ONLINE_METRICS: MetricSpec[] = [
  { name: 'ap', label: 'average precision (labelled)', direction: 'higher', format: 'ratio' },
  { name: 'precisionAtBudget', label: 'precision at review budget', direction: 'higher', format: 'ratio' },
  { name: 'labelled', label: 'labelled', direction: 'higher', format: 'number' },
  { name: 'frauds', label: 'frauds', direction: 'lower', format: 'number' },
  { name: 'reviewRate', label: 'sent to review or declined', direction: 'lower', format: 'percent' },
];

interface Scored {
  version: string;
  probability: number;
  flagged: boolean;
  customer: string | null;
}

export const riskFeedback: FeedbackHandler = {
  arrow: RISK_FEEDBACK_SCHEMA,
  row: RiskFeedbackRow,
  online: RISK_ONLINE_METRICS,
  personal: { customer_id: 'identifier' },
  guarded: 'ap',
  start(rt, prepared) {
    const options = RiskOptions.parse(rt.ctx.config.options);
    // Labels come days or weeks after their transaction, so the join spans the whole window.
    const scored = new Map<string, Scored>();
    const labels = new Map<string, number>();
    const firstSeen = new Map<string, number>();
    const served = FEATURE_NAMES.map(() => [] as number[]);
    return {
      add(row) {
        const id = row.transaction_id as string;
        if (row.type === 'label') {
          labels.set(id, row.label as number);
          return;
        }
        const version = row.model_version as string;
        scored.set(id, { version, probability: row.probability as number, flagged: row.decision !== 'approve', customer: (row.customer_id as string | null | undefined) ?? null });
        firstSeen.set(version, Math.min(firstSeen.get(version) ?? Infinity, timestampMs(row.timestamp)));
        FEATURE_NAMES.forEach((name, j) => {
          const value = row[featureColumn(name)];
          if (typeof value === 'number') served[j].push(value);
        });
      },
      endDay: () => undefined,
      perVersion() {
        const byVersion = new Map<string, Scored[]>();
        for (const s of scored.values()) {
          const rows = byVersion.get(s.version);
          if (rows) rows.push(s);
          else byVersion.set(s.version, [s]);
        }
        const out: Record<string, OnlineMetrics> = {};
        for (const [version, rows] of byVersion) {
          const labelled = [...scored].filter(([id, s]) => s.version === version && labels.has(id));
          const y = Uint8Array.from(labelled, ([id]) => labels.get(id)!);
          const p = Float32Array.from(labelled, ([, s]) => s.probability);
          const frauds = y.reduce((n, v) => n + v, 0);
          // Average precision needs both classes among the labelled transactions.
          const measurable = frauds > 0 && frauds < y.length;
          out[version] = {
            requests: rows.length,
            users: new Set(rows.map((r) => r.customer).filter((c) => c !== null)).size,
            firstSeen: new Date(firstSeen.get(version) ?? 0).toISOString(),
            metrics: {
              labelled: y.length,
              frauds,
              reviewRate: rows.filter((r) => r.flagged).length / rows.length,
              ...(measurable ? { ap: averagePrecision(y, p), precisionAtBudget: precisionRecallAtBudget(y, p, options.reviewBudget).precision } : {}),
            },
          };
        }
        return out;
      },
      async drift(thresholdOf, minSample) {
        const train = splitRows(await rt.readTable(artifactOf(prepared, 'features')), [SPLIT.train, SPLIT.validation]);
        const width = train.names.length;
        const measures: Record<string, DriftMeasure> = {};
        train.names.forEach((name, j) => {
          const expectedValues = Float64Array.from({ length: train.y.length }, (_, r) => train.x[r * width + j]);
          const edges = quantileEdges(expectedValues, DRIFT_BUCKETS);
          const expected = new Array<number>(edges.length + 1).fill(0);
          const actual = new Array<number>(edges.length + 1).fill(0);
          for (const v of expectedValues) expected[bucketOf(edges, v)]++;
          for (const v of served[FEATURE_NAMES.indexOf(name)] ?? []) actual[bucketOf(edges, v)]++;
          measures[name] = driftMeasure(name, edgeLabels(edges), expected, actual, thresholdOf(name), minSample);
        });
        return measures;
      },
    };
  },
};
