/**
 * The intent-routing kind's serving handler. A loaded version is the network and the
 * tokenizer it was trained with (carried in the model's config, so serving encodes a text
 * exactly as training did), its calibration and routing threshold.
 *
 *   POST /intent/classify  {text, conversation_id?}, or an array of up to 100 of them
 *                          -> intent, confidence, top-3 intents with probabilities,
 *                             route (auto | human) and the threshold used;
 *                          ?explain=true adds explanation: the words by their share of the
 *                             predicted intent's logit (integrated gradients)
 *   POST /feedback         {type: intent_confirmed | intent_corrected, request_id, intent?, item?}
 *                          or an array of up to 100: what the agent actually handled
 */
import { z } from 'zod';
import { oneOrMany } from '../../../schemas/serving';
import { identifier } from '../../../schemas/events';
import { maskPersonalText } from '../../privacy/text-masking';
import { IntentScorer } from '../../../ml/text/intent-scorer';
import type { IntentNetworkConfig } from '../../../ml/text/intent-model';
import { Tokenizer, type TokenizerSpec } from '../../../ml/text/tokenizer';
import { explainText } from '../../../ml/text/explain-text';
import type { Attribution } from '../../../ml/explain';
import { MAX_TEXT_CHARS, utteranceText } from './rows';
import { SCORING_ROUTE, type ServingHandler, type VersionToLoad } from '../contract';

export const MAX_TEXTS_PER_REQUEST = 100;
const TOP_INTENTS = 3;

/** What the trained model carries besides the network: its tokenizer and operating threshold. */
export interface IntentModelConfig extends IntentNetworkConfig {
  tokenizer: TokenizerSpec;
  /** Answer automatically at or above this confidence; null: always hand over. */
  threshold: number | null;
  targetAutoAccuracy: number;
  maxTextChars: number;
}

export interface LoadedIntentModel {
  /** The network in plain JavaScript: it holds no tensors. */
  network: IntentScorer;
  tokenizer: Tokenizer;
  config: IntentModelConfig;
}

function classifyRequest(maxChars: number) {
  return z.object({ text: utteranceText(maxChars), conversation_id: identifier.optional() }).strict();
}

const textParsers = new Map<number, (body: unknown) => z.ZodSafeParseResult<ClassifyRequest[]>>();

/** An array is parsed as an array (errors name `[3].text`), an object as a batch of one; one parser per text limit. */
export function parseTexts(body: unknown, maxChars: number): z.ZodSafeParseResult<ClassifyRequest[]> {
  let parse = textParsers.get(maxChars);
  if (!parse) textParsers.set(maxChars, (parse = oneOrMany(classifyRequest(maxChars), MAX_TEXTS_PER_REQUEST, 'text')));
  return parse(body);
}
type ClassifyRequest = z.output<ReturnType<typeof classifyRequest>>;

export const OUTCOME_TYPES = ['intent_confirmed', 'intent_corrected'] as const;

const OutcomeRequest = z
  .object({
    type: z.enum(OUTCOME_TYPES, { message: `must be one of ${OUTCOME_TYPES.join(', ')}` }),
    request_id: identifier,
    /** Which text of a batch request (0 for a single text). */
    item: z.number().int().min(0).max(MAX_TEXTS_PER_REQUEST - 1).default(0),
    /** The intent the agent handled: required for a correction. */
    intent: identifier.optional(),
  })
  .strict()
  .refine((o) => o.type !== 'intent_corrected' || o.intent !== undefined, { message: 'a correction must name the intent', path: ['intent'] });
const parseOutcomes = oneOrMany(OutcomeRequest, MAX_TEXTS_PER_REQUEST, 'outcome');

export function loadIntentModel(version: Pick<VersionToLoad, 'bundle'>): LoadedIntentModel {
  const config = version.bundle.config as unknown as IntentModelConfig;
  const weights = Object.fromEntries(Object.entries(version.bundle.tensors).map(([name, tensor]) => [name, tensor.dataSync() as Float32Array]));
  for (const tensor of Object.values(version.bundle.tensors)) tensor.dispose();
  const network = IntentScorer.fromWeights(config, weights);
  return { network, tokenizer: new Tokenizer(config.tokenizer), config };
}

export interface Classified {
  intent: string;
  confidence: number;
  intents: { intent: string; probability: number }[];
  route: 'auto' | 'human';
  words: number;
  unknownWords: number;
}

export function classify(loaded: LoadedIntentModel, texts: readonly string[]): Classified[] {
  const { config } = loaded;
  const classes = config.intents.length;
  const encoded = loaded.tokenizer.encodeAll(texts);
  const probabilities = loaded.network.predict(encoded);
  return encoded.map((text, r) => {
    const row = Array.from(probabilities.subarray(r * classes, (r + 1) * classes));
    const top = row.map((p, c) => ({ intent: config.intents[c], probability: p })).sort((a, b) => b.probability - a.probability).slice(0, TOP_INTENTS);
    const confidence = top[0].probability;
    return { intent: top[0].intent, confidence, intents: top, route: config.threshold !== null && confidence >= config.threshold ? 'auto' : 'human', words: text.words, unknownWords: text.unknownWords };
  });
}

/** The words of `text` by their share of the temperature-scaled logit of `intent`, largest magnitude first. */
export function explainIntent(loaded: LoadedIntentModel, text: string, intent: string): Attribution[] {
  return explainText(loaded.tokenizer, loaded.network, text, loaded.config.intents.indexOf(intent));
}

export const intentServing: ServingHandler<LoadedIntentModel> = {
  explanation: { method: 'integrated-gradients', attributes: "message words -> the predicted intent's logit (from the empty message)" },
  load: async (version) => loadIntentModel(version),
  // Nothing to free: the scorer's weights are plain arrays.
  dispose: () => undefined,
  describe: (loaded) => ({ intents: loaded.config.intents.length, features: loaded.tokenizer.features, threshold: loaded.config.threshold, targetAutoAccuracy: loaded.config.targetAutoAccuracy }),
  sampleRequest: () => ({ method: 'POST', url: '/intent/classify', body: { text: 'where is my order? it has not arrived yet', conversation_id: 'sample-conversation' } }),
  routes(app, host) {
    app.post('/intent/classify', SCORING_ROUTE, async (request, reply) => {
      // The contract's limit first (cheap), the model's own limit once the version is known.
      host.check(parseTexts(request.body, MAX_TEXT_CHARS));
      return host.serve(request, reply, async (loaded) => {
        const items = host.check(parseTexts(request.body, loaded.config.maxTextChars));
        // Scored (and explained) as stored for training: with contact details masked.
        const texts = items.map((i) => maskPersonalText(i.text));
        const results = classify(loaded, texts);
        const now = Date.now();
        const logged = results.map((r, item) => ({
          type: 'prediction',
          request_id: request.id,
          item,
          conversation_id: items[item].conversation_id ?? null,
          text: items[item].text,
          predicted_intent: r.intent,
          confidence: r.confidence,
          route: r.route,
          words: r.words,
          unknown_words: r.unknownWords,
          intent: null,
          timestamp: now,
        }));
        const explain = host.explains(request);
        const answers = results.map((r, i) => ({
          intent: r.intent,
          confidence: r.confidence,
          intents: r.intents,
          route: r.route,
          ...(items[i].conversation_id ? { conversation_id: items[i].conversation_id } : {}),
          ...(explain ? { explanation: explainIntent(loaded, texts[i], r.intent) } : {}),
        }));
        const threshold = loaded.config.threshold;
        return { body: Array.isArray(request.body) ? { results: answers, threshold } : { ...answers[0], threshold }, logged };
      });
    });

    app.post('/feedback', async (request, reply) => {
      const outcomes = host.check(parseOutcomes(request.body));
      const now = Date.now();
      const rows = outcomes.map((o) => ({
        type: o.type,
        model_version: host.creditedVersion(o.request_id),
        request_id: o.request_id,
        item: o.item,
        intent: o.intent ?? null,
        timestamp: now,
      }));
      await host.logFeedback(rows);
      return reply.status(202).send({ request_id: request.id, accepted: rows.length });
    });
  },
};
