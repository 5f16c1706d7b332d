/**
 * The transaction-risk kind: scores each card payment so that fraud is stopped and good
 * customers are not. Point-in-time features of the card's spending and the terminal's
 * recent fraud (features.ts, the same code in batch and online), a class-weighted MLP with
 * early stopping on validation average precision and calibrated probabilities, judged by
 * the Fraud Detection Handbook's protocol and metrics against logistic regression on the
 * same features, served at /risk/score.
 */
import { fitLogisticBaseline, LogisticHyperparameters } from '../../../ml/tabular/logistic';
import { FraudModel, TabularHyperparameters, trainFraudMlp } from '../../../ml/tabular/fraud-mlp';
import { evenSample, globalExplanation } from '../../../ml/explain';
import type { MlpScorer } from '../../../ml/tabular/mlp-scorer';
import { artifactOf } from '../../kind-runtime';
import { labelsSource, transactionsSource } from './sources';
import { featureOptionsOf, prepareTransactions, splitRows, type SplitRows } from './prepare';
import { RiskOptions, SPLIT } from './protocol';
import { RISK_METRICS, RISK_SEGMENTS, riskMetrics, riskSegments } from './evaluation';
import { riskFeedback } from './feedback';
import { riskServing, type LoadedRiskModel, type RiskModelConfig } from './serving';
import { syntheticTransactionFiles } from './synthetic';
import type { KindRuntime, ModelKind } from '../contract';
import type { PreprocessResult } from '../../../schemas/steps';

async function rowsOf(rt: KindRuntime, prepared: PreprocessResult, splits: number[]): Promise<SplitRows> {
  return splitRows(await rt.readTable(artifactOf(prepared, 'features')), splits);
}

const optionsOf = (rt: KindRuntime) => RiskOptions.parse(rt.ctx.config.options);

/** The global explanation: serving's gradient x input over every feature, on an even sample of the test rows. */
function explainSample(scorer: MlpScorer, x: Float32Array, rows: number) {
  const width = scorer.config.featureNames.length;
  const sample = evenSample(rows);
  const picked = new Float32Array(sample.length * width);
  sample.forEach((row, i) => picked.set(x.subarray(row * width, (row + 1) * width), i * width));
  const cases = scorer.explain(picked, sample.length, width).map((row) => row.map((c) => ({ input: c.feature, attribution: c.contribution })));
  return globalExplanation(riskServing.explanation.method, 'calibrated log-odds of fraud', cases);
}

export const transactionRiskKind: ModelKind<TabularHyperparameters, LoadedRiskModel> = {
  name: 'transaction-risk',
  description: 'card transaction fraud scoring on point-in-time features (Fraud Detection Handbook protocol)',
  sources: [transactionsSource, labelsSource],
  hyperparameters: {
    schema: TabularHyperparameters,
    searchSpace: { learningRate: { min: 0.0003, max: 0.01, scale: 'log' }, dropout: { min: 0, max: 0.5 }, positiveWeight: { choices: [1, 'sqrt-balanced', 'balanced'] } },
  },
  options: RiskOptions,
  metrics: {
    specs: RISK_METRICS,
    primary: 'ap',
    validation: { name: 'ap', label: 'validation AP', direction: 'higher', format: 'ratio' },
  },
  segments: RISK_SEGMENTS,
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff, options: RiskOptions.parse(ctx.config.options) }),
  preprocess: (rt, snapshot) => prepareTransactions(rt, snapshot, optionsOf(rt)),

  async train(rt, prepared, hp) {
    const options = optionsOf(rt);
    const [train, validation] = await Promise.all([rowsOf(rt, prepared, [SPLIT.train]), rowsOf(rt, prepared, [SPLIT.validation])]);
    rt.log.info({ train: train.y.length, validation: validation.y.length, frauds: train.y.reduce((n, v) => n + v, 0) }, 'training transaction-risk model');
    const result = await trainFraudMlp({ ...rt.hooks, hyperparameters: hp, featureNames: train.names, train, validation } as Parameters<typeof trainFraudMlp>[0]);
    const config: RiskModelConfig = { ...result.model.config, featureOptions: featureOptionsOf(options), decision: options.decision, reviewBudget: options.reviewBudget };
    return { ...result, weights: result.model.namedWeights(), config: { ...config }, notes: { refitEpochs: result.refitEpochs }, dispose: () => result.model.dispose() };
  },

  async evaluate(rt, prepared, target) {
    const table = await rt.readTable(artifactOf(prepared, 'features'));
    const [train, test] = [splitRows(table, [SPLIT.train]), splitRows(table, [SPLIT.test])];
    const config = target.bundle.config as unknown as RiskModelConfig;
    if (config.featureNames.join() !== test.names.join()) {
      throw new Error(`the model was trained on features ${config.featureNames.join(', ')}; this run computes ${test.names.join(', ')}`);
    }
    const model = FraudModel.fromWeights(config, target.bundle.tensors);
    for (const tensor of Object.values(target.bundle.tensors)) tensor.dispose();
    try {
      const scores = model.predict(test.x, test.y.length);
      const { reviewBudget } = optionsOf(rt);
      return {
        metrics: riskMetrics(test, scores, reviewBudget),
        evaluated: test.y.length,
        explanations: explainSample(model.frozen(), test.x, test.y.length),
        segments: riskSegments(train, test, scores, reviewBudget, config.decision.review),
      };
    } finally {
      model.dispose();
    }
  },

  baseline: {
    label: 'logistic regression',
    async evaluate(rt, prepared) {
      // No early stopping to feed: it fits on the whole training window.
      const [train, test] = await Promise.all([rowsOf(rt, prepared, [SPLIT.train, SPLIT.validation]), rowsOf(rt, prepared, [SPLIT.test])]);
      const model = fitLogisticBaseline({ hyperparameters: LogisticHyperparameters.parse({}), featureNames: train.names, train });
      return { metrics: riskMetrics(test, model.predict(test.x, test.y.length), optionsOf(rt).reviewBudget), evaluated: test.y.length };
    },
  },

  servingArtifacts: ['online-state'],
  serving: riskServing,
  feedback: riskFeedback,
  synthetic: () => syntheticTransactionFiles(),
};
