/**
 * The intent-routing kind: which of the store's customer-service intents a message is,
 * and whether the assistant answers it automatically or hands it to a person. Word and
 * character n-gram features hashed by one tokenizer (ml/text/tokenizer.ts) shared by
 * training and serving, an embedding bag with a hidden layer trained from scratch in
 * TensorFlow.js, temperature-scaled on validation, with a routing threshold chosen on
 * validation for a target accuracy of the automatic answers; judged on a held-out split
 * against multinomial logistic regression on the same tf-idf features; served at /intent/classify.
 */
import { fitLogisticRegression, IntentHyperparameters, IntentNetwork, LogisticHyperparameters, trainIntentNetwork, type IntentTrainingState, type IntentTrainResult } from '../../../ml/text/intent-model';
import { Tokenizer, type EncodedText, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { explainTextSample } from '../../../ml/text/explain-text';
import { artifactOf } from '../../kind-runtime';
import { utterancesSource } from './sources';
import { intentsOf, prepareUtterances, splitTexts } from './prepare';
import { IntentOptions, SPLIT } from './protocol';
import { chooseThreshold, INTENT_METRICS, INTENT_SEGMENTS, intentMetrics, intentSegments } from './evaluation';
import { intentFeedback } from './feedback';
import { intentServing, type IntentModelConfig, type LoadedIntentModel } from './serving';
import { syntheticUtteranceFiles } from './synthetic';
import type { Evaluation, KindRuntime, ModelKind } from '../contract';
import type { PreprocessResult } from '../../../schemas/steps';
import type { TrainingHooks } from '../../../ml/training-hooks';

const optionsOf = (rt: KindRuntime) => IntentOptions.parse(rt.ctx.config.options);

interface Prepared {
  tokenizer: Tokenizer;
  intents: string[];
  /** The texts of some splits, encoded by `tokenizer` (default: this run's). */
  read(splits: number[], tokenizer?: Tokenizer): { texts: EncodedText[]; labels: Int32Array };
  /** The same texts as written. */
  raw(splits: number[]): string[];
}

async function preparedData(rt: KindRuntime, prepared: PreprocessResult): Promise<Prepared> {
  const [table, bytes] = await Promise.all([rt.readTable(artifactOf(prepared, 'utterances')), rt.store.getBytes(artifactOf(prepared, 'tokenizer'))]);
  const tokenizer = new Tokenizer(JSON.parse(new TextDecoder().decode(bytes)) as TokenizerSpec);
  return {
    tokenizer,
    intents: intentsOf(table),
    raw: (splits) => splitTexts(table, splits).texts,
    read(splits, encoder = tokenizer) {
      const rows = splitTexts(table, splits);
      return { texts: encoder.encodeAll(rows.texts), labels: rows.labels };
    },
  };
}

/** Trains a network and fixes its routing threshold on the validation split. */
async function trainModel(rt: KindRuntime, data: Prepared, hp: IntentHyperparameters, hooks: TrainingHooks<unknown>): Promise<{ result: IntentTrainResult; config: IntentModelConfig }> {
  const options = optionsOf(rt);
  const train = data.read([SPLIT.train]);
  const validation = data.read([SPLIT.validation]);
  rt.log.info({ train: train.labels.length, validation: validation.labels.length, intents: data.intents.length, features: data.tokenizer.features }, 'training intent model');
  const result = await trainIntentNetwork({ ...(hooks as TrainingHooks<IntentTrainingState>), hyperparameters: hp, features: data.tokenizer.features, intents: data.intents, train, validation });
  const threshold = chooseThreshold(validation.labels, result.network.predict(validation.texts), data.intents.length, options.targetAutoAccuracy);
  const config: IntentModelConfig = { ...result.network.config, tokenizer: data.tokenizer.spec, threshold, targetAutoAccuracy: options.targetAutoAccuracy, maxTextChars: options.maxTextChars };
  return { result, config };
}

function evaluateOn(rt: KindRuntime, data: Prepared, network: IntentNetwork, threshold: number | null, tokenizer?: Tokenizer): Evaluation {
  const test = data.read([SPLIT.test], tokenizer);
  const { oosLabel } = optionsOf(rt);
  const oosClass = oosLabel === undefined ? -1 : data.intents.indexOf(oosLabel);
  const probabilities = network.predict(test.texts);
  const metricsOf = (rows: number[]) => {
    const classes = data.intents.length;
    const subset = new Float32Array(rows.length * classes);
    rows.forEach((row, i) => subset.set(probabilities.subarray(row * classes, (row + 1) * classes), i * classes));
    return intentMetrics(Int32Array.from(rows, (row) => test.labels[row]), subset, classes, threshold, oosClass);
  };
  return {
    metrics: intentMetrics(test.labels, probabilities, data.intents.length, threshold, oosClass),
    evaluated: test.labels.length,
    segments: intentSegments(data.raw([SPLIT.train]), data.raw([SPLIT.test]), metricsOf),
  };
}

export const intentRoutingKind: ModelKind<IntentHyperparameters, LoadedIntentModel> = {
  name: 'intent-routing',
  description: 'customer-service intent classification and auto/human routing from message text',
  sources: [utterancesSource],
  hyperparameters: {
    schema: IntentHyperparameters,
    searchSpace: { learningRate: { min: 0.0005, max: 0.01, scale: 'log' }, dropout: { min: 0, max: 0.5 } },
  },
  options: IntentOptions,
  metrics: {
    specs: INTENT_METRICS,
    primary: 'accuracy',
    validation: { name: 'accuracy', label: 'validation accuracy', direction: 'higher', format: 'percent' },
  },
  segments: INTENT_SEGMENTS,
  preprocessKey: (ctx) => ({ dataCutoff: ctx.config.dataCutoff, options: IntentOptions.parse(ctx.config.options) }),
  preprocess: (rt, snapshot) => prepareUtterances(rt, snapshot, optionsOf(rt)),

  async train(rt, prepared, hp) {
    const { result, config } = await trainModel(rt, await preparedData(rt, prepared), hp, rt.hooks);
    return {
      ...result,
      weights: result.network.namedWeights(),
      config: { ...config },
      notes: { features: config.features, temperature: +config.temperature.toFixed(3), threshold: config.threshold === null ? 'never automatic' : +config.threshold.toFixed(4) },
      dispose: () => result.network.dispose(),
    };
  },

  async evaluate(rt, prepared, target) {
    const data = await preparedData(rt, prepared);
    const config = target.bundle.config as unknown as IntentModelConfig;
    // The labels index this run's intents: a model of other intents cannot be scored on them.
    if (config.intents.join('\n') !== data.intents.join('\n')) {
      throw new Error(`the model predicts ${config.intents.length} intents (${config.intents.slice(0, 5).join(', ')}, ...); this run's data has ${data.intents.length} (${data.intents.slice(0, 5).join(', ')}, ...)`);
    }
    const network = IntentNetwork.fromWeights(config, target.bundle.tensors);
    for (const tensor of Object.values(target.bundle.tensors)) tensor.dispose();
    try {
      // Encoded with the model's own tokenizer: a served version scored on newer data keeps its vocabulary.
      const tokenizer = new Tokenizer(config.tokenizer);
      const explanations = explainTextSample(tokenizer, network, data.raw([SPLIT.test]), intentServing.explanation.method, "predicted intent's logit");
      return { ...evaluateOn(rt, data, network, config.threshold, tokenizer), explanations };
    } finally {
      network.dispose();
    }
  },

  baseline: {
    label: 'tf-idf logistic regression',
    async evaluate(rt, prepared) {
      // Fitted on the training split, its routing threshold chosen on validation, as the model's are.
      const data = await preparedData(rt, prepared);
      const validation = data.read([SPLIT.validation]);
      const network = await fitLogisticRegression({ hyperparameters: LogisticHyperparameters.parse({}), features: data.tokenizer.features, intents: data.intents, train: data.read([SPLIT.train]) });
      try {
        const threshold = chooseThreshold(validation.labels, network.predict(validation.texts), data.intents.length, optionsOf(rt).targetAutoAccuracy);
        return evaluateOn(rt, data, network, threshold);
      } finally {
        network.dispose();
      }
    },
  },

  servingArtifacts: [],
  serving: intentServing,
  feedback: intentFeedback,
  synthetic: () => syntheticUtteranceFiles(),
};
