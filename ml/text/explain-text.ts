/** Word-level explanations of the bag-of-features text networks (intents, product categories from titles). */
import { evenSample, globalExplanation, ranked, type Attribution } from '../explain';
import { IntentScorer } from './intent-scorer';
import type { IntentNetwork } from './intent-model';
import type { Tokenizer } from './tokenizer';

/** The words of `text` by their share of class `classIndex`'s temperature-scaled logit (integrated gradients), largest magnitude first. */
export function explainText(tokenizer: Tokenizer, network: IntentScorer, text: string, classIndex: number): Attribution[] {
  if (classIndex < 0) throw new Error('the class to explain is not one of the network\'s');
  const encoded = tokenizer.encode(text);
  const entries = network.entryAttributions(encoded, classIndex);
  const { words, attributions } = tokenizer.wordAttributions(text, encoded, entries);
  return ranked(words, attributions);
}

/**
 * A global explanation of a trained text network: the words behind its predicted class on an
 * even sample of `texts` (a test split), as serving explains them.
 */
export function explainTextSample(tokenizer: Tokenizer, network: IntentNetwork, texts: readonly string[], method: string, of: string) {
  const sample = evenSample(texts.length).map((i) => texts[i]);
  const scorer = IntentScorer.fromWeights(network.config, Object.fromEntries(network.namedWeights().map(({ name, tensor }) => [name, tensor.dataSync() as Float32Array])));
  const classes = network.config.intents.length;
  const probabilities = scorer.predict(tokenizer.encodeAll(sample));
  const cases = sample.map((text, c) => {
    const row = probabilities.subarray(c * classes, (c + 1) * classes);
    return explainText(tokenizer, scorer, text, row.indexOf(Math.max(...row)));
  });
  return globalExplanation(method, of, cases);
}
