/**
 * The transaction-risk kind's serving handler. A loaded version is the fraud model, its
 * decision thresholds, and an online feature state (features.ts) started from the version's
 * `online-state` artifact, so the first request already sees each card's and terminal's
 * recent history; every scored transaction and every label posted updates it.
 *
 *   POST /risk/score   one transaction, or an array of up to 500:
 *                      {transaction_id, customer_id, terminal_id, tx_amount, tx_datetime?}
 *                      -> probability, decision (approve | review | decline), top feature contributions;
 *                      ?explain=true adds explanation: every feature's contribution (gradient x input)
 *   POST /feedback     {transaction_id, label: fraud|genuine, reported_at?} or an array of up to 500
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { oneOrMany } from '../../../schemas/serving';
import { quoted } from '../../../schemas/events';
import { readBatches } from '../../storage/arrow-io';
import { MlpScorer } from '../../../ml/tabular/mlp-scorer';
import type { FraudModelConfig } from '../../../ml/tabular/fraud-mlp';
import { OnlineFeatureState, type FeatureOptions } from './features';
import { FRAUD_LABELS, TransactionRow, utcTimestamp } from './rows';
import { SCORING_ROUTE, type ServingHandler, type VersionToLoad } from '../contract';

export const MAX_TRANSACTIONS_PER_REQUEST = 500;
/** Contributions returned per transaction, for the analyst. */
const TOP_CONTRIBUTIONS = 3;

/** What the trained model carries besides the network: its feature definitions and operating thresholds. */
export interface RiskModelConfig extends FraudModelConfig {
  featureOptions: FeatureOptions;
  decision: { review: number; decline: number };
  reviewBudget: number;
}

/** The online features, shared by reference between versions across a hot swap. */
interface LiveFeatures {
  state: OnlineFeatureState;
  /** The latest transaction time scored: a late-arriving transaction is scored as of then (features never look back in time). */
  clockMs: number;
}

export interface LoadedRiskModel {
  /** The network in plain JavaScript: it holds no tensors. */
  model: MlpScorer;
  config: RiskModelConfig;
  features: LiveFeatures;
}

const ScoreRequest = TransactionRow.omit({ tx_fraud: true }).extend({ tx_datetime: utcTimestamp.optional() }).strict();
type ScoreRequest = z.output<typeof ScoreRequest>;
/** An array is parsed as an array (errors name `[3].tx_amount`), an object as a batch of one. */
const parseTransactions = oneOrMany(ScoreRequest, MAX_TRANSACTIONS_PER_REQUEST, 'transaction', (list) =>
  list.refine((txs) => new Set(txs.map((t) => t.transaction_id)).size === txs.length, 'must not hold one transaction_id twice'),
);

const LabelRequest = z
  .object({
    transaction_id: TransactionRow.shape.transaction_id,
    label: z.enum(FRAUD_LABELS, { message: `must be one of ${FRAUD_LABELS.join(', ')}` }),
    reported_at: utcTimestamp.optional(),
  })
  .strict();
const parseLabels = oneOrMany(LabelRequest, MAX_TRANSACTIONS_PER_REQUEST, 'label');

export function decide(probability: number, thresholds: RiskModelConfig['decision']): 'approve' | 'review' | 'decline' {
  return probability >= thresholds.decline ? 'decline' : probability >= thresholds.review ? 'review' : 'approve';
}

/** Replays the version's recent transactions and their labels into a fresh feature state. */
async function warmState({ store, artifactKey }: Pick<VersionToLoad, 'store' | 'artifactKey'>, options: FeatureOptions): Promise<LiveFeatures> {
  const state = new OnlineFeatureState(options);
  let clockMs = Number.NEGATIVE_INFINITY;
  for await (const batch of readBatches(store, artifactKey('online-state'))) {
    const [ids, times, customers, terminals, amounts, frauds, reported] = ['transaction_id', 'tx_datetime', 'customer_id', 'terminal_id', 'tx_amount', 'fraud', 'reported_at'].map((c) => batch.getChild(c)!);
    for (let row = 0; row < batch.numRows; row++) {
      const transactionId = ids.get(row) as string;
      clockMs = Number(times.get(row));
      state.score({ transactionId, timeMs: clockMs, customerId: customers.get(row) as string, terminalId: terminals.get(row) as string, amount: amounts.get(row) as number });
      const fraud = frauds.get(row);
      if (fraud !== null) state.addLabel({ transactionId, fraud: Number(fraud) === 1, reportedAtMs: Number(reported.get(row)) });
    }
  }
  return { state, clockMs };
}

/**
 * A version with its feature state. On a hot swap to a version with the same feature
 * definitions the live state is taken over, so nothing scored or labelled since the new
 * version's data ended is lost; otherwise the state is rebuilt from the version's artifact.
 */
export async function loadRiskModel(version: Pick<VersionToLoad, 'store' | 'bundle' | 'artifactKey'>, previous?: LoadedRiskModel): Promise<LoadedRiskModel> {
  const config = version.bundle.config as unknown as RiskModelConfig;
  const weights = Object.fromEntries(Object.entries(version.bundle.tensors).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
  for (const tensor of Object.values(version.bundle.tensors)) tensor.dispose();
  const model = MlpScorer.fromWeights(config, weights);
  if (previous && JSON.stringify(previous.config.featureOptions) === JSON.stringify(config.featureOptions)) {
    return { model, config, features: previous.features };
  }
  return { model, config, features: await warmState(version, config.featureOptions) };
}

/** The feedback log's column of a feature. */
export const featureColumn = (name: string) => `f_${name}`;

/** A transaction id scored before, or twice in one batch: a 409 naming it, and nothing of the batch is recorded. */
export class AlreadyScoredError extends Error {
  readonly statusCode = 409;
  constructor(
    readonly field: string,
    id: string,
  ) {
    super(`${field}: transaction ${quoted(id)} was already scored: each transaction is scored once, since scoring it again would count it twice in its customer's and terminal's features`);
  }
}

export function assertNotScored(ids: readonly string[], held: (id: string) => boolean, batch: boolean): void {
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (held(id) || seen.has(id)) throw new AlreadyScoredError(batch ? `[${i}].transaction_id` : 'transaction_id', id);
    seen.add(id);
  });
}

export const riskServing: ServingHandler<LoadedRiskModel> = {
  explanation: { method: 'gradient-x-input', attributes: 'standardised features -> calibrated log-odds of fraud (from the training mean)' },
  load: loadRiskModel,
  // Nothing to free: the scorer's weights are plain arrays, and the feature state may live on in the next version.
  dispose: () => undefined,
  describe: (loaded) => ({ features: loaded.config.featureNames.length, decision: loaded.config.decision, ...loaded.features.state.stats() }),
  sampleRequest: () => ({
    method: 'POST',
    url: '/risk/score',
    body: { transaction_id: `sample-${randomUUID()}`, customer_id: 'sample-card', terminal_id: 'sample-terminal', tx_amount: 42.5 },
  }),
  routes(app, host) {
    app.post('/risk/score', SCORING_ROUTE, async (request, reply) => {
      const transactions = host.check(parseTransactions(request.body));
      return host.serve(request, reply, async (loaded) => {
        const { config, model, features } = loaded;
        // Checked before any is recorded, so a refused batch leaves the online state as it was.
        assertNotScored(transactions.map((tx) => tx.transaction_id), (id) => features.state.holds(id), Array.isArray(request.body));
        const width = config.featureNames.length;
        const x = new Float32Array(transactions.length * width);
        const order = [...transactions.keys()].sort((a, b) => (transactions[a].tx_datetime ?? Date.now()) - (transactions[b].tx_datetime ?? Date.now()));
        const times = new Float64Array(transactions.length);
        for (const i of order) {
          const tx = transactions[i];
          times[i] = features.clockMs = Math.max(features.clockMs, tx.tx_datetime ?? Date.now());
          x.set(features.state.score({ transactionId: tx.transaction_id, timeMs: times[i], customerId: host.pseudonymOf(tx.customer_id), terminalId: tx.terminal_id, amount: tx.tx_amount }), i * width);
        }
        // The same gradient x input pass: every feature when asked to explain, else the analyst's top few.
        const explain = host.explains(request);
        const { probabilities, contributions } = model.score(x, transactions.length, explain ? width : TOP_CONTRIBUTIONS);
        const results = transactions.map((tx, i) => ({
          transaction_id: tx.transaction_id,
          probability: probabilities[i],
          decision: decide(probabilities[i], config.decision),
          contributions: contributions[i].slice(0, TOP_CONTRIBUTIONS),
          ...(explain ? { explanation: contributions[i].map((c) => ({ input: c.feature, attribution: c.contribution, value: x[i * width + config.featureNames.indexOf(c.feature)] })) } : {}),
        }));
        const logged = transactions.map((tx, i) => ({
          type: 'score',
          transaction_id: tx.transaction_id,
          customer_id: tx.customer_id,
          probability: probabilities[i],
          decision: results[i].decision,
          label: null,
          timestamp: times[i],
          ...Object.fromEntries(config.featureNames.map((name, j) => [featureColumn(name), x[i * width + j]])),
        }));
        return { body: Array.isArray(request.body) ? { results } : results[0], logged };
      });
    });

    app.post('/feedback', async (request, reply) => {
      const labels = host.check(parseLabels(request.body));
      const { state } = host.live().features;
      const version = host.liveVersion();
      const unknown: string[] = [];
      const rows = labels.map((l) => {
        const reportedAtMs = l.reported_at ?? Date.now();
        if (!state.addLabel({ transactionId: l.transaction_id, fraud: l.label === 'fraud', reportedAtMs })) unknown.push(l.transaction_id);
        return { type: 'label', model_version: version, transaction_id: l.transaction_id, label: l.label === 'fraud' ? 1 : 0, timestamp: reportedAtMs };
      });
      await host.logFeedback(rows);
      // Labels for transactions the online state no longer holds still count for the feedback step's metrics.
      return reply.status(202).send({ request_id: request.id, accepted: rows.length, not_in_online_state: unknown });
    });
  },
};
